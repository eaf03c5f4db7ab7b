//! Partners, points of sale and products (the SecuTix row): manage them, and see what the
//! checkout widget of a point of sale shows for an example order, exactly as a buyer would.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::optins::LANGUAGES;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, path_segment, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::partner::THEME_VARIABLES;
use crate::domain::{Language, Scope};
use crate::http::public::widget;
use crate::services::checkout::{self, CheckoutRequest, Offer, WidgetPlace};
use crate::services::partners::{self, PartnerInput, PartnerView};
use crate::services::points_of_sale::{self, PosInput, PosView};
use crate::services::products::{self, ProductInput, ProductSync, ProductView};
use crate::services::{orgs, ServiceError};

/// The kinds of partner, as stored (shown translated).
pub(super) const KINDS: [&str; 3] = ["promoter", "producer", "other"];

/// Products per page of the list.
const PRODUCTS_PER_PAGE: i64 = 50;

/// A partner's fields as the form shows them.
struct PartnerForm {
    kinds: [&'static str; 3],
    key: String,
    kind: String,
    name: String,
    privacy_url: String,
    /// (language code, language name, description)
    descriptions: Vec<(&'static str, &'static str, String)>,
}

impl PartnerForm {
    fn of(p: Option<&PartnerView>) -> Self {
        PartnerForm {
            kinds: KINDS,
            key: p.map(|p| p.key.clone()).unwrap_or_default(),
            kind: p
                .map(|p| p.kind.clone())
                .unwrap_or_else(|| "promoter".into()),
            name: p.map(|p| p.name.clone()).unwrap_or_default(),
            privacy_url: p.map(|p| p.privacy_url.clone()).unwrap_or_default(),
            descriptions: LANGUAGES
                .iter()
                .map(|(c, l)| {
                    let d = p.and_then(|p| p.description.get(*c).cloned());
                    (*c, *l, d.unwrap_or_default())
                })
                .collect(),
        }
    }

    fn posted(f: &Form) -> Self {
        PartnerForm {
            kinds: KINDS,
            key: f.get("key").trim().to_string(),
            kind: f.get("kind").to_string(),
            name: f.get("name").to_string(),
            privacy_url: f.get("privacy_url").trim().to_string(),
            descriptions: LANGUAGES
                .iter()
                .map(|(c, l)| (*c, *l, f.get(&format!("description_{c}")).to_string()))
                .collect(),
        }
    }

    fn input(&self) -> PartnerInput {
        PartnerInput {
            key: self.key.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            description: self
                .descriptions
                .iter()
                .filter(|(_, _, d)| !d.trim().is_empty())
                .map(|(c, _, d)| (c.to_string(), d.clone()))
                .collect(),
            privacy_url: self.privacy_url.clone(),
        }
    }
}

/// A point of sale's fields as the form shows them.
struct PosForm {
    key: String,
    name: String,
    partner_optins: bool,
    double_opt_in: bool,
    frame_origin: String,
    /// (partner key, partner name, chosen)
    partners: Vec<(String, String, bool)>,
    /// (variable, value)
    theme: Vec<(&'static str, String)>,
}

impl PosForm {
    fn of(p: Option<&PosView>, all: &[PartnerView]) -> Self {
        PosForm {
            key: p.map(|p| p.key.clone()).unwrap_or_default(),
            name: p.map(|p| p.name.clone()).unwrap_or_default(),
            partner_optins: p.is_some_and(|p| p.partner_optins),
            double_opt_in: p.is_none_or(|p| p.double_opt_in),
            frame_origin: p.and_then(|p| p.frame_origin.clone()).unwrap_or_default(),
            partners: all
                .iter()
                .map(|a| {
                    let on = p.is_some_and(|p| p.partners.contains(&a.key));
                    (a.key.clone(), a.name.clone(), on)
                })
                .collect(),
            theme: THEME_VARIABLES
                .iter()
                .map(|v| {
                    (
                        *v,
                        p.and_then(|p| p.theme.get(*v).cloned()).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    fn posted(f: &Form, all: &[PartnerView]) -> Self {
        let chosen = f.all("partners");
        PosForm {
            key: f.get("key").trim().to_string(),
            name: f.get("name").to_string(),
            partner_optins: f.checked("partner_optins"),
            double_opt_in: f.checked("double_opt_in"),
            frame_origin: f.get("frame_origin").trim().to_string(),
            partners: all
                .iter()
                .map(|a| (a.key.clone(), a.name.clone(), chosen.contains(&a.key)))
                .collect(),
            theme: THEME_VARIABLES
                .iter()
                .map(|v| (*v, f.get(&format!("theme_{v}")).trim().to_string()))
                .collect(),
        }
    }

    fn input(&self) -> PosInput {
        PosInput {
            key: self.key.clone(),
            name: self.name.clone(),
            partner_optins: self.partner_optins,
            double_opt_in: Some(self.double_opt_in),
            partners: self
                .partners
                .iter()
                .filter(|(_, _, on)| *on)
                .map(|(k, _, _)| k.clone())
                .collect(),
            frame_origin: Some(self.frame_origin.clone()).filter(|o| !o.is_empty()),
            theme: self
                .theme
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

/// A product's fields as the form shows them (dates as typed, RFC 3339).
#[derive(Default)]
struct ProductForm {
    id: String,
    title: String,
    date: String,
    partner: String,
    url: String,
    price: String,
}

impl ProductForm {
    fn posted(f: &Form) -> Self {
        ProductForm {
            id: f.get("id").trim().to_string(),
            title: f.get("title").to_string(),
            date: f.get("date").trim().to_string(),
            partner: f.get("partner").to_string(),
            url: f.get("url").trim().to_string(),
            price: f.get("price").to_string(),
        }
    }

    fn input(&self, ui: &Ui) -> ProductInput {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        ProductInput {
            id: self.id.clone(),
            title: self.title.clone(),
            // The form's datetime-local is in the user's time zone.
            date: opt(&self.date).map(|d| ui.local_to_rfc3339(&d).unwrap_or(d)),
            partner: opt(&self.partner),
            url: opt(&self.url),
            image_url: None,
            price: opt(&self.price),
            review_url: None,
        }
    }
}

#[derive(Template)]
#[template(path = "partners.html")]
struct IndexPage {
    ui: Ui,
    errors: Vec<String>,
    partners: Vec<PartnerView>,
    points: Vec<PosView>,
    products: Vec<ProductView>,
    next_after: Option<String>,
    partner: PartnerForm,
    pos: PosForm,
    product: ProductForm,
    /// The form that was posted and shown again with its errors (its section stays open).
    open: &'static str,
}

#[derive(serde::Deserialize, Default)]
pub struct ProductsQuery {
    #[serde(default)]
    after: String,
    notice: Option<String>,
}

/// The page with the three lists and their create forms; the posted form (with `errors`)
/// replaces the empty one of its kind.
async fn index_page(
    app: &App,
    admin: &Admin,
    after: &str,
    errors: Vec<String>,
    notice: Option<&str>,
    posted: impl FnOnce(&mut IndexPage),
) -> AdminResult {
    let org_id = admin.org_id();
    let partners = partners::all(app, org_id).await?;
    let products = products::page(app, org_id, after, None, PRODUCTS_PER_PAGE).await?;
    let next_after = (products.len() as i64 == PRODUCTS_PER_PAGE)
        .then(|| products.last().map(|p| p.id.clone()))
        .flatten();
    let mut page = IndexPage {
        ui: admin.ui("partners").with_notice(notice),
        errors,
        points: points_of_sale::all(app, org_id).await?,
        products,
        next_after,
        open: "",
        partner: PartnerForm::of(None),
        pos: PosForm::of(None, &partners),
        product: ProductForm::default(),
        partners,
    };
    posted(&mut page);
    Ok(render_status(form_status(&page.errors), page))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<ProductsQuery>,
) -> AdminResult {
    index_page(
        &app,
        &admin,
        &q.after,
        Vec::new(),
        q.notice.as_deref(),
        |_| {},
    )
    .await
}

pub async fn create_partner(State(app): State<App>, p: Posted) -> AdminResult {
    let form = PartnerForm::posted(&p.form);
    match partners::create(&app, p.admin.org_id(), &form.input()).await {
        Ok(_) => done("/admin/partners", "created"),
        Err(e) => {
            let errors = field_errors(e)?;
            index_page(&app, &p.admin, "", errors, None, |page| {
                page.partner = form;
                page.open = "partner";
            })
            .await
        }
    }
}

pub async fn create_pos(State(app): State<App>, p: Posted) -> AdminResult {
    let all = partners::all(&app, p.admin.org_id()).await?;
    let form = PosForm::posted(&p.form, &all);
    match points_of_sale::create(&app, p.admin.org_id(), &form.input()).await {
        Ok(v) => done(
            &format!("/admin/points-of-sale/{}", path_segment(&v.key)),
            "created",
        ),
        Err(e) => {
            let errors = field_errors(e)?;
            index_page(&app, &p.admin, "", errors, None, |page| {
                page.pos = form;
                page.open = "pos";
            })
            .await
        }
    }
}

/// Adds a product or replaces the one with the same id (the ticket system's sync does the same).
pub async fn save_product(State(app): State<App>, p: Posted) -> AdminResult {
    let form = ProductForm::posted(&p.form);
    let ui = p.admin.ui("partners");
    let req = ProductSync {
        products: vec![form.input(&ui)],
    };
    match products::sync(&app, p.admin.org_id(), &req).await {
        Ok(_) => done("/admin/partners", "saved"),
        Err(e) => {
            // One product per call: its errors are named products[0].field.
            let errors = field_errors(e)?
                .into_iter()
                .map(|m| m.replacen("products[0].", "", 1))
                .collect();
            index_page(&app, &p.admin, "", errors, None, |page| {
                page.product = form;
                page.open = "product";
            })
            .await
        }
    }
}

pub async fn delete_product(
    State(app): State<App>,
    Path(id): Path<String>,
    p: Posted,
) -> AdminResult {
    products::delete(&app, p.admin.org_id(), &id).await?;
    done("/admin/partners", "deleted")
}

#[derive(Template)]
#[template(path = "partner.html")]
struct PartnerPage {
    ui: Ui,
    errors: Vec<String>,
    optins: Vec<String>,
    partner: PartnerForm,
}

pub async fn show_partner(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    let row = partners::by_key(&app, admin.org_id(), &key).await?;
    let v = partners::view(&app, &row).await?;
    Ok(render_status(
        StatusCode::OK,
        PartnerPage {
            ui: admin.ui("partners").with_notice(q.notice.as_deref()),
            errors: Vec::new(),
            optins: v.optins.clone(),
            partner: PartnerForm::of(Some(&v)),
        },
    ))
}

pub async fn update_partner(
    State(app): State<App>,
    Path(key): Path<String>,
    p: Posted,
) -> AdminResult {
    let row = partners::by_key(&app, p.admin.org_id(), &key).await?;
    let mut form = PartnerForm::posted(&p.form);
    form.key = row.key.clone();
    match partners::update(&app, p.admin.org_id(), &row.key, &form.input()).await {
        Ok(v) => done(
            &format!("/admin/partners/{}", path_segment(&v.key)),
            "saved",
        ),
        Err(e) => {
            let v = partners::view(&app, &row).await?;
            Ok(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                PartnerPage {
                    ui: p.admin.ui("partners"),
                    errors: field_errors(e)?,
                    optins: v.optins,
                    partner: form,
                },
            ))
        }
    }
}

/// The example order of the point-of-sale page: `?email=&products=&lang=`.
#[derive(serde::Deserialize, Default)]
pub struct ExampleQuery {
    #[serde(default)]
    email: String,
    #[serde(default)]
    products: String,
    #[serde(default)]
    lang: String,
    notice: Option<String>,
}

impl ExampleQuery {
    fn request(&self, pos: &str) -> CheckoutRequest {
        CheckoutRequest {
            point_of_sale: pos.to_string(),
            email: if self.email.trim().is_empty() {
                EXAMPLE_BUYER.into()
            } else {
                self.email.trim().to_string()
            },
            language: Some(self.lang.clone()).filter(|l| !l.is_empty()),
            product_ids: self
                .products
                .split([',', ' ', '\n', '\r'])
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            order: None,
        }
    }

    /// The same query string, for the preview frame.
    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("email", &self.email)
            .append_pair("products", &self.products)
            .append_pair("lang", &self.lang)
            .finish()
    }
}

/// The buyer of an example order when none is typed: an address nobody has, so every
/// opt-in of the order is offered.
const EXAMPLE_BUYER: &str = "buyer@example.com";

#[derive(Template)]
#[template(path = "point_of_sale.html")]
struct PosPage {
    ui: Ui,
    errors: Vec<String>,
    pos: PosForm,
    example: ExampleQuery,
    example_errors: Vec<String>,
    offers: Option<Vec<Offer>>,
    frame: String,
    languages: [(&'static str, &'static str); 4],
}

async fn pos_page(
    app: &App,
    admin: &Admin,
    key: &str,
    errors: Vec<String>,
    posted: Option<PosForm>,
    example: ExampleQuery,
) -> AdminResult {
    let org_id = admin.org_id();
    let row = points_of_sale::by_key(app, org_id, key).await?;
    let all = partners::all(app, org_id).await?;
    let pos = match posted {
        Some(f) => f,
        None => PosForm::of(Some(&points_of_sale::view(app, &row).await?), &all),
    };
    let who = admin.principal(&[Scope::CheckoutWrite]);
    let (offers, example_errors) =
        match checkout::offers(app, &who, &example.request(&row.key)).await {
            Ok(o) => (Some(o.optins), Vec::new()),
            Err(e) => (None, field_errors(e)?),
        };
    let frame = format!(
        "/admin/points-of-sale/{}/widget?{}",
        path_segment(&row.key),
        example.query_string()
    );
    let notice = example.notice.clone();
    Ok(render_status(
        form_status(&errors),
        PosPage {
            ui: admin.ui("partners").with_notice(notice.as_deref()),
            errors,
            pos,
            example,
            example_errors,
            offers,
            frame,
            languages: LANGUAGES,
        },
    ))
}

pub async fn show_pos(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<ExampleQuery>,
) -> AdminResult {
    pos_page(&app, &admin, &key, Vec::new(), None, q).await
}

pub async fn update_pos(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    let org_id = p.admin.org_id();
    let row = points_of_sale::by_key(&app, org_id, &key).await?;
    let all = partners::all(&app, org_id).await?;
    let mut form = PosForm::posted(&p.form, &all);
    form.key = row.key.clone();
    match points_of_sale::update(&app, org_id, &row.key, &form.input()).await {
        Ok(v) => done(
            &format!("/admin/points-of-sale/{}", path_segment(&v.key)),
            "saved",
        ),
        Err(e) => {
            let errors = field_errors(e)?;
            pos_page(
                &app,
                &p.admin,
                &key,
                errors,
                Some(form),
                ExampleQuery::default(),
            )
            .await
        }
    }
}

/// The widget page of the example order, for the preview frame.
pub async fn widget_example(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<ExampleQuery>,
) -> AdminResult<Response> {
    let org_id = admin.org_id();
    let row = points_of_sale::by_key(&app, org_id, &key).await?;
    let who = admin.principal(&[Scope::CheckoutWrite]);
    let offers = match checkout::offers(&app, &who, &q.request(&row.key)).await {
        Ok(o) => o,
        Err(ServiceError::Validation(_)) => return Err(super::error::AdminError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let org = orgs::org_by_slug(&app, &admin.session.org_slug).await?;
    let place = WidgetPlace {
        lang: Language::parse(&offers.language).unwrap_or(Language::En),
        org: org.name,
        frame_origin: None,
    };
    Ok(widget::example(
        &place,
        &points_of_sale::theme_of(&row),
        &offers.optins,
    ))
}
