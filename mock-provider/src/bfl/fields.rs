//! Typed reads of a JSON body's fields with pydantic-style errors, for [`super::request`].

use fluxq_common::OutputFormat;
use serde_json::{Map, Value};

use super::error::FieldError;
use super::request::{DEFAULT_SIDE, MAX_PIXELS};

/// Reads fields, collecting errors. `null` counts as absent for optional fields.
#[derive(Debug)]
pub(super) struct Checker<'a> {
    pub fields: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl<'a> Checker<'a> {
    pub(super) fn error(&mut self, field: &str, msg: String, kind: &'static str) {
        self.errors.push(FieldError::body(&[field], msg, kind));
    }

    pub(super) fn get(&self, field: &str) -> Option<&'a Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    pub(super) fn prompt(&mut self) -> Option<String> {
        let Some(value) = self.get("prompt") else {
            self.error("prompt", "Field required".to_owned(), "missing");
            return None;
        };
        match value.as_str() {
            Some(p) if !p.trim().is_empty() => Some(p.to_owned()),
            Some(_) => {
                self.error(
                    "prompt",
                    "String should have at least 1 character".to_owned(),
                    "string_too_short",
                );
                None
            }
            None => {
                self.error(
                    "prompt",
                    "Input should be a valid string".to_owned(),
                    "string_type",
                );
                None
            }
        }
    }

    /// An optional integer in `min..=max`; whole floats such as `1024.0` pass.
    pub(super) fn int(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.get(field)?;
        let int = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        let Some(int) = int else {
            self.error(
                field,
                "Input should be a valid integer".to_owned(),
                "int_type",
            );
            return None;
        };
        self.range(field, int as f64, min as f64, max as f64)
            .then_some(int)
    }

    pub(super) fn number(&mut self, field: &str, min: f64, max: f64) -> Option<f64> {
        let Some(number) = self.get(field)?.as_f64() else {
            self.error(
                field,
                "Input should be a valid number".to_owned(),
                "float_type",
            );
            return None;
        };
        self.range(field, number, min, max).then_some(number)
    }

    pub(super) fn range(&mut self, field: &str, v: f64, min: f64, max: f64) -> bool {
        if v < min {
            self.error(
                field,
                format!("Input should be greater than or equal to {min}"),
                "greater_than_equal",
            );
        } else if v > max {
            self.error(
                field,
                format!("Input should be less than or equal to {max}"),
                "less_than_equal",
            );
        }
        (min..=max).contains(&v)
    }

    /// Width or height: default 1024, at least 64, a multiple of 16.
    pub(super) fn side(&mut self, field: &str) -> Option<i64> {
        if self.get(field).is_none() {
            return Some(DEFAULT_SIDE);
        }
        let side = self.int(field, 64, MAX_PIXELS / 64)?;
        if side % 16 != 0 {
            self.error(
                field,
                format!("Value error, {field} must be a multiple of 16"),
                "value_error",
            );
            return None;
        }
        Some(side)
    }

    /// An optional non-empty string.
    pub(super) fn string(&mut self, field: &str) -> Option<&'a str> {
        let value = self.get(field)?;
        match value.as_str() {
            Some(s) if !s.is_empty() => Some(s),
            Some(_) => {
                self.error(
                    field,
                    "String should have at least 1 character".to_owned(),
                    "string_too_short",
                );
                None
            }
            None => {
                self.error(
                    field,
                    "Input should be a valid string".to_owned(),
                    "string_type",
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.get(field)?;
        let b = value.as_bool();
        if b.is_none() {
            self.error(
                field,
                "Input should be a valid boolean".to_owned(),
                "bool_type",
            );
        }
        b
    }

    pub(super) fn format(&mut self) -> OutputFormat {
        match self.get("output_format").map(Value::as_str) {
            None => OutputFormat::Jpeg,
            Some(Some("jpeg")) => OutputFormat::Jpeg,
            Some(Some("png")) => OutputFormat::Png,
            Some(Some("webp")) => OutputFormat::Webp,
            Some(_) => {
                let msg = "Input should be 'jpeg', 'png' or 'webp'".to_owned();
                self.error("output_format", msg, "literal_error");
                OutputFormat::Jpeg
            }
        }
    }
}
