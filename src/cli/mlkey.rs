//! `handbill mlkey …` and `handbill sandbox create`: the member keys of the
//! MailingLijst-compatible API, for the server's operator.

use std::process::ExitCode;

use super::{MlkeyCommand, SandboxCommand};
use crate::app::App;
use crate::services::ml_keys::{self, KeyView};
use crate::services::orgs;

fn line(k: &KeyView) -> String {
    let accounts: Vec<String> = k
        .accounts
        .iter()
        .map(|a| format!("{}={}", a.account, a.org))
        .collect();
    format!(
        "{:<5} {:<9} {:<12} {:<8} {:<24} {:<30} {}",
        k.id,
        k.prefix,
        k.member,
        if k.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        },
        accounts.join(","),
        if k.any_ip {
            "any address".to_string()
        } else {
            k.allowed_ips.join(",")
        },
        k.actions.join(",")
    )
}

pub async fn run(app: &App, cmd: MlkeyCommand) -> anyhow::Result<ExitCode> {
    let view = match cmd {
        MlkeyCommand::Create {
            org,
            account,
            allow_ip,
            actions,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let (key, view) =
                ml_keys::create(app, org.id, account, &allow_ip, &actions, false).await?;
            if view.allowed_ips.is_empty() {
                eprintln!("note: no address may use this key until you run `handbill mlkey allow-ip {} ADDRESS`", view.id);
            }
            eprintln!(
                "key {} for {} (account {}); it is shown only now:",
                view.id, view.member, view.accounts[0].account
            );
            println!("{key}");
            return Ok(ExitCode::SUCCESS);
        }
        MlkeyCommand::List { org } => {
            let org_id = match org {
                Some(slug) => Some(orgs::org_by_slug(app, &slug).await?.id),
                None => None,
            };
            println!(
                "{:<5} {:<9} {:<12} {:<8} {:<24} {:<30} ACTIONS",
                "ID", "PREFIX", "MEMBER", "STATE", "ACCOUNTS", "ALLOWED"
            );
            for k in ml_keys::list(app, org_id).await? {
                println!("{}", line(&k));
            }
            return Ok(ExitCode::SUCCESS);
        }
        MlkeyCommand::AllowIp { id, ips, replace } => {
            ml_keys::allow_ips(app, None, id, &ips, replace).await?
        }
        MlkeyCommand::Actions { id, actions } => {
            ml_keys::set_actions(app, None, id, &actions).await?
        }
        MlkeyCommand::Grant { id, org, account } => {
            ml_keys::grant(app, None, id, &org, account).await?
        }
        MlkeyCommand::Revoke { id } => {
            ml_keys::revoke(app, None, id).await?;
            println!("key {id} is revoked");
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", line(&view));
    Ok(ExitCode::SUCCESS)
}

pub async fn sandbox(app: &App, cmd: SandboxCommand) -> anyhow::Result<ExitCode> {
    let SandboxCommand::Create { org, account } = cmd;
    let (key, view, list) = ml_keys::create_sandbox(app, &org, account).await?;
    eprintln!(
        "sandbox '{}': any address may call it, its mail goes to the outbox only; list l={list}, account a={}",
        view.member, view.accounts[0].account
    );
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}
