//! Typed reads of a JSON object's fields for [`super::request`], each problem
//! recorded as a [`FieldError`] naming the field's dotted path. `null` counts as absent.

use serde_json::{Map, Value};

use super::error::FieldError;

/// Reads the fields of the object at `path` (`""` for the body, `"input"`, …).
#[derive(Debug)]
pub(super) struct Fields<'a> {
    pub map: &'a Map<String, Value>,
    pub path: &'static str,
}

impl<'a> Fields<'a> {
    /// The dotted path of field `name`.
    pub fn at(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// Refuses the fields not in `known` (a client typo shows up in tests).
    pub fn only(&self, known: &[&str], errors: &mut Vec<FieldError>) {
        for name in self.map.keys().filter(|k| !known.contains(&k.as_str())) {
            errors.push(FieldError::new(self.at(name), "Unknown field."));
        }
    }

    /// An optional integer in `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64, errors: &mut Vec<FieldError>) -> Option<i64> {
        let value = self.get(name)?;
        match value.as_i64().filter(|n| (min..=max).contains(n)) {
            Some(n) => Some(n),
            None => {
                let msg = format!("Must be an integer from {min} to {max}.");
                errors.push(FieldError::new(self.at(name), msg));
                None
            }
        }
    }

    /// An optional number in `min..=max`.
    pub fn number(&self, name: &str, min: f64, max: f64, errors: &mut Vec<FieldError>) {
        if let Some(value) = self.get(name)
            && !value.as_f64().is_some_and(|n| (min..=max).contains(&n))
        {
            let msg = format!("Must be a number from {min} to {max}.");
            errors.push(FieldError::new(self.at(name), msg));
        }
    }

    pub fn boolean(&self, name: &str, errors: &mut Vec<FieldError>) {
        if self.get(name).is_some_and(|v| !v.is_boolean()) {
            errors.push(FieldError::new(self.at(name), "Must be a boolean."));
        }
    }

    /// An optional string, one of `allowed`.
    pub fn one_of(
        &self,
        name: &str,
        allowed: &[&str],
        errors: &mut Vec<FieldError>,
    ) -> Option<&'a str> {
        let value = self.get(name)?;
        match value.as_str().filter(|s| allowed.contains(s)) {
            Some(s) => Some(s),
            None => {
                let msg = format!("Must be one of {}.", allowed.join(", "));
                errors.push(FieldError::new(self.at(name), msg));
                None
            }
        }
    }

    /// An optional string of `1..=max_chars` characters.
    pub fn text(
        &self,
        name: &str,
        max_chars: usize,
        errors: &mut Vec<FieldError>,
    ) -> Option<&'a str> {
        let value = self.get(name)?;
        match value
            .as_str()
            .filter(|s| !s.trim().is_empty() && s.chars().count() <= max_chars)
        {
            Some(s) => Some(s),
            None => {
                let msg = format!("Must be a string of 1 to {max_chars} characters.");
                errors.push(FieldError::new(self.at(name), msg));
                None
            }
        }
    }

    /// An optional JSON object.
    pub fn object(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<&'a Map<String, Value>> {
        let value = self.get(name)?;
        if value.as_object().is_none() {
            errors.push(FieldError::new(self.at(name), "Must be an object."));
        }
        value.as_object()
    }
}
