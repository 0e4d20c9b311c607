//! `waform schema`: prints the JSON Schema of the config, or with
//! `--flow-json` the schema of Flow JSON files.

use crate::cli::SchemaArgs;

pub fn run(args: SchemaArgs) -> anyhow::Result<crate::ExitStatus> {
    if args.flow_json {
        crate::outln!("{}", crate::flow::schema::schema_json()?);
    } else {
        crate::outln!("{}", crate::schema::schema_json()?);
    }
    Ok(crate::ExitStatus::Success)
}
