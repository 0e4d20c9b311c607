//! `waform schema`: prints the JSON Schema of the config.

pub fn run() -> anyhow::Result<u8> {
    println!("{}", crate::schema::schema_json()?);
    Ok(0)
}
