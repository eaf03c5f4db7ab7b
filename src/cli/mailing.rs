//! `handbill mailing …`: the same lifecycle as the API, for operators.

use std::process::ExitCode;

use super::MailingCommand;
use crate::app::App;
use crate::services::mailings::{self, Action, MailingView};
use crate::services::orgs;

fn line(m: &MailingView) -> String {
    let c = &m.counts;
    format!(
        "{:<6} {:<10} {:<5} {:>8} {:>8} {:>8}  {}",
        m.id,
        m.status,
        if m.held { "held" } else { "" },
        c.total(),
        c.sent,
        c.bounced,
        m.name
    )
}

pub async fn run(app: &App, cmd: MailingCommand) -> anyhow::Result<ExitCode> {
    let (org, id, action) = match cmd {
        MailingCommand::List { org, status } => {
            let org = orgs::org_by_slug(app, &org).await?;
            println!(
                "{:<6} {:<10} {:<5} {:>8} {:>8} {:>8}  NAME",
                "ID", "STATUS", "", "PLANNED", "SENT", "BOUNCED"
            );
            for m in mailings::list(app, org.id, status.as_deref(), 200, 0).await? {
                println!("{}", line(&m));
            }
            return Ok(ExitCode::SUCCESS);
        }
        MailingCommand::Stats { org, id } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let s = mailings::stats(app, org.id, id).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            return Ok(ExitCode::SUCCESS);
        }
        MailingCommand::Schedule { org, id, at } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let m = mailings::schedule(app, org.id, id, &at).await?;
            println!(
                "mailing {} is scheduled for {}",
                m.id,
                m.scheduled_at.unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        MailingCommand::Send { org, id } => (org, id, Action::Send),
        MailingCommand::Pause { org, id } => (org, id, Action::Pause),
        MailingCommand::Resume { org, id } => (org, id, Action::Resume),
        MailingCommand::Cancel { org, id } => (org, id, Action::Cancel),
    };
    let org = orgs::org_by_slug(app, &org).await?;
    let m = mailings::act(app, org.id, id, action).await?;
    println!("mailing {} is {}", m.id, m.status);
    Ok(ExitCode::SUCCESS)
}
