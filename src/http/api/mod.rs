//! The native JSON API under `/api/v1`.

pub(crate) mod automations;
mod catalog;
mod checkout;
mod collections;
mod contacts;
mod events;
mod exports;
mod hooks;
mod imports;
mod link_parameter;
mod lists;
mod mailinglijst;
mod mailings;
mod me;
mod optins;
mod partner;
mod segments;
mod sms_gateway;
mod sources;
mod templates;
mod tokens;

use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::App;

#[derive(OpenApi)]
#[openapi(
    info(title = "Handbill API", description = "Consent-first audience mailing. Authenticate with `Authorization: Bearer TOKEN`; errors are RFC 9457 problem documents with a stable `code`."),
    paths(super::ops::healthz, super::ops::readyz, super::ops::metrics, me::me, tokens::create, tokens::list, tokens::rotate, tokens::revoke,
        optins::register, lists::index, lists::create, lists::show, lists::archive, lists::put_template,
        contacts::create, contacts::index, contacts::show, contacts::update, contacts::erase, contacts::export,
        mailings::index, mailings::create, mailings::show, mailings::update, mailings::send, mailings::pause, mailings::resume,
        mailings::cancel, mailings::schedule, mailings::test, mailings::preview, mailings::stats, mailings::deliveries,
        mailings::contact_deliveries, segments::preview, templates::index, templates::create, templates::show, templates::update, templates::tx,
        mailinglijst::create_key, mailinglijst::list_keys, mailinglijst::update_key, mailinglijst::revoke_key, mailinglijst::list_codes, mailinglijst::create_code, mailinglijst::delete_code,
        catalog::partners_index, catalog::partners_create, catalog::partners_show, catalog::partners_update, catalog::pos_index, catalog::pos_create,
        catalog::pos_show, catalog::pos_update, catalog::products_sync, catalog::products_index, catalog::products_show, catalog::products_delete,
        checkout::optins, checkout::widget, checkout::answers, partner::consents, partner::optouts,
        automations::index, automations::create, automations::show, automations::update, automations::publish, automations::participations,
        automations::participation, automations::trigger, automations::stop, automations::stop_participation,
        sms_gateway::show, sms_gateway::save, sms_gateway::delete, imports::create, imports::show, imports::index,
        link_parameter::show, link_parameter::save, link_parameter::delete, events::index,
        sources::index, sources::show, sources::save, sources::delete, sources::check, sources::files,
        collections::index, collections::show, collections::save, collections::delete, collections::records, collections::insert,
        collections::upsert, collections::show_record, collections::delete_record,
        hooks::index, hooks::create, hooks::show, hooks::update, hooks::rotate, hooks::test, hooks::delete,
        exports::index, exports::create, exports::show, exports::update, exports::delete, exports::run, exports::runs, exports::file),
    components(schemas(super::error::Problem, me::Me, me::MeOrg, me::MeToken, tokens::CreateToken, tokens::TokenView, tokens::IssuedTokenView,
        optins::Register, crate::services::optins::ConsentMode, crate::services::lists::CreateList, crate::services::lists::ListView, crate::services::lists::TemplateOverride,
        contacts::CreateContact, contacts::Page, crate::services::contacts::ContactView, crate::services::contacts::SubscriptionView,
        crate::services::mailings::MailingInput, crate::services::mailings::MailingView, crate::store::DeliveryCounts, crate::services::mailings::DeliveryView,
        crate::services::mailings::MailingStats, crate::services::mailings::LinkStats, crate::services::mailings::HourStats,
        mailings::Schedule, mailings::TestSend, mailings::TestQueued, mailings::PreviewFor,
        crate::services::segments::PreviewRequest, crate::services::segments::PreviewResult, crate::services::segments::SampleContact,
        crate::services::templates::TemplateInput, crate::services::templates::TemplateView, crate::services::templates::TxRequest, crate::services::templates::TxAccepted,
        mailinglijst::CreateKey, mailinglijst::UpdateKey, mailinglijst::IssuedKey, crate::services::ml_keys::KeyView, crate::services::ml_keys::AccountView,
        crate::services::list_codes::NewCode, crate::services::list_codes::CodeView,
        crate::services::partners::PartnerInput, crate::services::partners::PartnerView, crate::services::points_of_sale::PosInput, crate::services::points_of_sale::PosView,
        crate::services::products::ProductInput, crate::services::products::ProductSync, crate::services::products::SyncResult, crate::services::products::ProductView,
        crate::services::checkout::CheckoutRequest, crate::services::checkout::Offers, crate::services::checkout::Offer, crate::services::checkout::PartnerCard,
        crate::services::checkout::IssuedWidget, crate::services::checkout::AnswersRequest, crate::services::checkout::Answer, checkout::WidgetAnswer, checkout::Recorded,
        crate::services::partner_consents::ConsentPage, crate::services::partner_consents::ConsentItem, crate::services::partner_consents::Proof,
        crate::services::partner_consents::OptoutRequest, crate::services::partner_consents::Optout, crate::services::partner_consents::OptoutResult,
        crate::services::automations::AutomationInput, crate::services::automations::AutomationView, crate::services::automations::TriggerRequest,
        crate::domain::automation::FieldInput, crate::services::automations::StopRequest, crate::services::automations::Stopped,
        crate::services::automations::ParticipationView, crate::services::automations::TriggerInput,
        crate::services::sms_gateways::GatewayInput, crate::services::sms_gateways::GatewayView,
        crate::services::imports::ImportView, crate::services::imports::RowErrorView, crate::domain::import::MappingInput,
        crate::domain::import::ConsentInput, crate::services::link_params::LinkParamInput,
        crate::services::link_params::LinkParamView, crate::services::activity::EventView, crate::services::activity::EventPage,
        crate::services::sources::SourceInput, crate::services::sources::ScheduledImport, crate::services::sources::TriggerPolling,
        crate::services::sources::SourceView, crate::services::sources::SourceFileView, crate::services::sources::CheckResult,
        crate::domain::schedule::Schedule, crate::services::exports::ExportInput, crate::services::exports::ExportView, crate::services::exports::RunView,
        crate::services::collections::CollectionInput, crate::services::collections::CollectionView, crate::services::collections::ContactRef,
        crate::services::collections::RecordInput, crate::services::collections::BulkInput, crate::services::collections::BulkResult,
        crate::services::collections::RecordView, crate::domain::collection::FieldDef, crate::domain::collection::FieldKind,
        crate::services::hooks::HookInput, crate::services::hooks::HookView, crate::services::hooks::Received, crate::services::hooks::HookTest, crate::services::hooks::TestRecord, crate::domain::hook::HookMapping,
        crate::domain::hook::RecordMapping, crate::domain::hook::AutomationMapping)),
    modifiers(&BearerAuth),
    tags((name = "operations"), (name = "tokens"), (name = "opt-ins"), (name = "lists"), (name = "contacts"), (name = "mailings"), (name = "templates"), (name = "mailinglijst"), (name = "partners"), (name = "checkout"), (name = "automations"), (name = "imports"), (name = "link parameter"), (name = "activity"), (name = "sources"), (name = "exports"), (name = "data model"), (name = "webhooks"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The largest product synchronisation body (10,000 products with long titles).
const PRODUCT_SYNC_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// A bulk upsert of 10,000 records of up to a few hundred bytes each.
const BULK_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Import uploads go to disk as they arrive; this bounds the disk a single upload may take.
const IMPORT_BODY_LIMIT: usize = 4 * 1024 * 1024 * 1024;

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}/rotate", post(tokens::rotate))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/optins/register", post(optins::register))
        .route("/api/v1/lists", get(lists::index).post(lists::create))
        .route("/api/v1/lists/{key}", get(lists::show))
        .route("/api/v1/lists/{key}/archive", post(lists::archive))
        .route(
            "/api/v1/lists/{key}/codes",
            get(mailinglijst::list_codes).post(mailinglijst::create_code),
        )
        .route(
            "/api/v1/lists/{key}/codes/{id}",
            delete(mailinglijst::delete_code),
        )
        .route(
            "/api/v1/mailinglijst/keys",
            get(mailinglijst::list_keys).post(mailinglijst::create_key),
        )
        .route(
            "/api/v1/mailinglijst/keys/{id}",
            axum::routing::patch(mailinglijst::update_key).delete(mailinglijst::revoke_key),
        )
        .route(
            "/api/v1/lists/{key}/templates/{kind}/{language}",
            put(lists::put_template),
        )
        .route(
            "/api/v1/contacts",
            get(contacts::index).post(contacts::create),
        )
        .route(
            "/api/v1/contacts/{id}",
            get(contacts::show)
                .patch(contacts::update)
                .delete(contacts::erase),
        )
        .route("/api/v1/contacts/{id}/export", get(contacts::export))
        .route(
            "/api/v1/contacts/{id}/deliveries",
            get(mailings::contact_deliveries),
        )
        .route(
            "/api/v1/mailings",
            get(mailings::index).post(mailings::create),
        )
        .route(
            "/api/v1/mailings/{id}",
            get(mailings::show).put(mailings::update),
        )
        .route("/api/v1/mailings/{id}/send", post(mailings::send))
        .route("/api/v1/mailings/{id}/pause", post(mailings::pause))
        .route("/api/v1/mailings/{id}/resume", post(mailings::resume))
        .route("/api/v1/mailings/{id}/cancel", post(mailings::cancel))
        .route("/api/v1/mailings/{id}/schedule", post(mailings::schedule))
        .route("/api/v1/mailings/{id}/test", post(mailings::test))
        .route("/api/v1/mailings/{id}/preview", post(mailings::preview))
        .route("/api/v1/mailings/{id}/stats", get(mailings::stats))
        .route(
            "/api/v1/mailings/{id}/deliveries",
            get(mailings::deliveries),
        )
        .route("/api/v1/segments/preview", post(segments::preview))
        .route(
            "/api/v1/templates",
            get(templates::index).post(templates::create),
        )
        .route(
            "/api/v1/templates/{key}",
            get(templates::show).put(templates::update),
        )
        .route("/api/v1/tx", post(templates::tx))
        .route(
            "/api/v1/partners",
            get(catalog::partners_index).post(catalog::partners_create),
        )
        .route(
            "/api/v1/partners/{key}",
            get(catalog::partners_show).put(catalog::partners_update),
        )
        .route(
            "/api/v1/points-of-sale",
            get(catalog::pos_index).post(catalog::pos_create),
        )
        .route(
            "/api/v1/points-of-sale/{key}",
            get(catalog::pos_show).put(catalog::pos_update),
        )
        .route(
            "/api/v1/products",
            get(catalog::products_index)
                .post(catalog::products_sync)
                .layer(
                    // A sync of 10,000 products is a few megabytes.
                    axum::extract::DefaultBodyLimit::max(PRODUCT_SYNC_BODY_LIMIT),
                ),
        )
        .route(
            "/api/v1/products/{id}",
            get(catalog::products_show).delete(catalog::products_delete),
        )
        .route("/api/v1/checkout/optins", post(checkout::optins))
        .route("/api/v1/checkout/widget", post(checkout::widget))
        .route("/api/v1/checkout/answers", post(checkout::answers))
        .route("/api/v1/partner/consents", get(partner::consents))
        .route("/api/v1/partner/optouts", post(partner::optouts))
        .route(
            "/api/v1/automations",
            get(automations::index).post(automations::create),
        )
        .route(
            "/api/v1/automations/{id}",
            get(automations::show).put(automations::update),
        )
        .route(
            "/api/v1/automations/{id}/publish",
            post(automations::publish),
        )
        .route(
            "/api/v1/automations/{id}/participations",
            get(automations::participations),
        )
        .route(
            "/api/v1/automations/trigger/{trigger_code}",
            post(automations::trigger),
        )
        .route(
            "/api/v1/automations/stop/{trigger_code}",
            post(automations::stop),
        )
        .route(
            "/api/v1/automations/participations/{id}",
            get(automations::participation),
        )
        .route(
            "/api/v1/automations/participations/{id}/stop",
            post(automations::stop_participation),
        )
        .route(
            "/api/v1/imports",
            get(imports::index)
                .post(imports::create)
                .layer(axum::extract::DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route("/api/v1/imports/{id}", get(imports::show))
        .route("/api/v1/events", get(events::index))
        .route("/api/v1/sources", get(sources::index))
        .route(
            "/api/v1/sources/{key}",
            get(sources::show)
                .put(sources::save)
                .delete(sources::delete),
        )
        .route("/api/v1/sources/{key}/check", post(sources::check))
        .route("/api/v1/sources/{key}/files", get(sources::files))
        .route("/api/v1/collections", get(collections::index))
        .route(
            "/api/v1/collections/{key}",
            get(collections::show)
                .put(collections::save)
                .delete(collections::delete),
        )
        .route(
            "/api/v1/collections/{key}/records",
            get(collections::records)
                .post(collections::insert)
                .put(collections::upsert)
                .layer(axum::extract::DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route(
            "/api/v1/collections/{key}/records/{record}",
            get(collections::show_record).delete(collections::delete_record),
        )
        .route("/api/v1/hooks", get(hooks::index).post(hooks::create))
        .route(
            "/api/v1/hooks/{id}",
            get(hooks::show).put(hooks::update).delete(hooks::delete),
        )
        .route("/api/v1/hooks/{id}/rotate", post(hooks::rotate))
        .route("/api/v1/hooks/{id}/test", post(hooks::test))
        .route("/api/v1/exports", get(exports::index).post(exports::create))
        .route(
            "/api/v1/exports/{id}",
            get(exports::show)
                .put(exports::update)
                .delete(exports::delete),
        )
        .route("/api/v1/exports/{id}/run", post(exports::run))
        .route("/api/v1/exports/{id}/runs", get(exports::runs))
        .route("/api/v1/exports/runs/{id}/file", get(exports::file))
        .route(
            "/api/v1/link-parameter",
            get(link_parameter::show)
                .put(link_parameter::save)
                .delete(link_parameter::delete),
        )
        .route(
            "/api/v1/sms-gateway",
            get(sms_gateway::show)
                .put(sms_gateway::save)
                .delete(sms_gateway::delete),
        )
}
