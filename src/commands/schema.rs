//! `waform schema`: prints the JSON Schema of the config, or with
//! `--flow-json` the schema of Flow JSON files.

use crate::cli::SchemaArgs;

pub(crate) fn run(args: SchemaArgs) -> anyhow::Result<waform::ExitStatus> {
    if args.flow_json {
        waform::outln!("{}", waform::flow::schema::schema_json()?);
    } else {
        waform::outln!("{}", waform::schema::schema_json()?);
    }
    Ok(waform::ExitStatus::Success)
}
