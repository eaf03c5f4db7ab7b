use super::{OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::validation::required_text;
use crate::domain::{Language, OrgSlug};
use crate::store::Org;

/// Creates an organisation (tenant). Slugs are unique.
pub async fn create_org(
    app: &App,
    slug: &str,
    name: &str,
    language: Option<&str>,
) -> ServiceResult<Org> {
    let slug = OrgSlug::parse(slug)?;
    let name = required_text("name", name, 200)?;
    let language = language
        .map(Language::parse)
        .transpose()?
        .unwrap_or(Language::Nl);
    app.store
        .create_org(slug.as_str(), &name, language.code(), app.now())
        .await
        .map_err(|e| {
            if e.is_conflict_on("slug") {
                ServiceError::Conflict {
                    field: "slug",
                    message: format!("an organisation with slug '{slug}' already exists"),
                }
            } else {
                e.into()
            }
        })
}

pub async fn org_by_slug(app: &App, slug: &str) -> ServiceResult<Org> {
    let slug = OrgSlug::parse(slug)?;
    app.store
        .org_by_slug(slug.as_str())
        .await
        .or_not_found("organisation")
}

/// Sets the sender (From) of the organisation's mails.
pub async fn set_sender(
    app: &App,
    slug: &str,
    email: &str,
    name: Option<&str>,
) -> ServiceResult<Org> {
    let org = org_by_slug(app, slug).await?;
    let email = crate::domain::EmailAddress::parse(email)?;
    let name = name
        .map(|n| crate::domain::validation::text("name", n, 100))
        .transpose()?
        .flatten();
    app.store
        .set_org_sender(org.id, email.as_str(), name.as_deref())
        .await?;
    org_by_slug(app, slug).await
}

/// Sets whether new mailings count opens and clicks unless they say otherwise.
pub async fn set_tracking(app: &App, slug: &str, opens: bool, clicks: bool) -> ServiceResult<Org> {
    let org = org_by_slug(app, slug).await?;
    app.store.set_org_tracking(org.id, opens, clicks).await?;
    tracing::info!(org = org.id, opens, clicks, "tracking defaults changed");
    org_by_slug(app, slug).await
}
