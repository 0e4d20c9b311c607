//! `waform schema`: prints the JSON Schema of the config, or with
//! `--flow-json` the schema of Flow JSON files.

use crate::cli::SchemaArgs;

pub fn run(args: SchemaArgs) -> anyhow::Result<u8> {
    if args.flow_json {
        println!("{}", crate::flow::schema::schema_json()?);
    } else {
        println!("{}", crate::schema::schema_json()?);
    }
    Ok(0)
}
