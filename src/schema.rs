//! JSON Schema of the config (in progress).

pub fn schema_json() -> anyhow::Result<String> {
    Ok("{}".to_string())
}
