//! `handbill linkparam …`: the encrypted link parameter of an organisation — turn it on, see
//! its key (for the website's configuration), open a parameter to debug.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::domain::Scope;
use crate::services::link_params::{self, LinkParamInput};
use crate::services::orgs;
use crate::services::tokens::Principal;

#[derive(Debug, Subcommand)]
pub enum LinkparamCommand {
    /// Turn the parameter on, or change its name and fields (prints a new key)
    Set {
        #[arg(long)]
        org: String,
        /// The query parameter's name
        #[arg(long, default_value = "hb")]
        name: String,
        /// Contact fields it carries: id guid external_id email first_name last_name language
        #[arg(long = "field", required = true, num_args = 1..)]
        fields: Vec<String>,
        /// Make a new key
        #[arg(long)]
        rotate_key: bool,
    },
    /// Print the key (64 hex digits) for the website
    Key {
        #[arg(long)]
        org: String,
    },
    /// Open a parameter taken from a link
    Decrypt {
        #[arg(long)]
        org: String,
        /// The parameter's value (base64url: it may begin with '-')
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
    /// Turn the parameter off
    Off {
        #[arg(long)]
        org: String,
    },
}

pub async fn run(app: &App, cmd: LinkparamCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LinkparamCommand::Set {
            org,
            name,
            fields,
            rotate_key,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let v = link_params::save(
                app,
                &Principal::internal(org.id, Scope::Admin),
                &LinkParamInput {
                    name: Some(name),
                    fields,
                    rotate_key,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        LinkparamCommand::Key { org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            println!("{}", link_params::key(app, org.id).await?);
        }
        LinkparamCommand::Decrypt { org, token } => {
            let org = orgs::org_by_slug(app, &org).await?;
            match link_params::decrypt(app, org.id, &token).await? {
                Some(json) => println!("{json}"),
                None => {
                    eprintln!("error: this parameter was not made with the organisation's key, or it was altered");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        LinkparamCommand::Off { org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            link_params::delete(app, &Principal::internal(org.id, Scope::Admin)).await?;
            println!("the link parameter is off");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// A parameter is base64url: it may begin with '-', which is still the value.
    #[test]
    fn a_parameter_may_begin_with_a_hyphen() {
        let cli = crate::cli::Cli::try_parse_from([
            "handbill",
            "linkparam",
            "decrypt",
            "--org",
            "paradiso",
            "-8abc_DEF",
        ])
        .unwrap();
        assert!(format!("{:?}", cli.command).contains("\"-8abc_DEF\""));
    }
}
