//! Where images are stored: `FLUXQ_OUTPUT_URL` parsed into an [`OutputTarget`], and how to
//! reach S3 (`FLUXQ_S3_ENDPOINT`, `FLUXQ_S3_REGION`, `AWS_*` keys), validated at start.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use object_store::RetryConfig;
use object_store::aws::{AmazonS3, AmazonS3Builder};

use crate::config_error::ConfigError;
use crate::secret::ApiKey;

/// Where images go, as `FLUXQ_OUTPUT_URL` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// A directory (a plain path or a `file://` URL).
    Dir(PathBuf),
    /// `s3://bucket/prefix`: keys `prefix/{batch}/{id}.{ext}` in `bucket`.
    S3 { bucket: String, prefix: String },
}

impl FromStr for OutputTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if !s.contains("://") {
            return Ok(Self::Dir(PathBuf::from(s)));
        }
        let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "file" => url
                .to_file_path()
                .map(Self::Dir)
                .map_err(|()| "a file:// URL must name an absolute local path".into()),
            "s3" => {
                let bucket = url.host_str().unwrap_or_default();
                if bucket.is_empty() || url.query().is_some() || url.fragment().is_some() {
                    return Err("expected s3://bucket or s3://bucket/prefix".into());
                }
                let prefix = url.path().trim_matches('/');
                if prefix.contains("//") {
                    return Err(format!("bad key prefix {prefix:?}"));
                }
                Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                })
            }
            other => Err(format!(
                "unsupported scheme {other:?}: use a path, file:///path or s3://bucket/prefix"
            )),
        }
    }
}

/// How to reach S3 or an S3-compatible store. `Debug` shows no key.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2, moto); `http://` allowed.
    pub endpoint: Option<Url>,
    pub region: Option<String>,
    pub access_key_id: Option<ApiKey>,
    pub secret_access_key: Option<ApiKey>,
    pub session_token: Option<ApiKey>,
}

impl S3Settings {
    /// An S3 client for `bucket`: explicit keys when configured, else the usual AWS
    /// sources (web identity, container or instance credentials, read by `object_store`).
    pub fn store_for(&self, bucket: &str) -> Result<AmazonS3, object_store::Error> {
        let mut b = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => {
                let b = AmazonS3Builder::new()
                    .with_access_key_id(id.expose())
                    .with_secret_access_key(secret.expose());
                match &self.session_token {
                    Some(t) => b.with_token(t.expose()),
                    None => b,
                }
            }
            _ => AmazonS3Builder::from_env(),
        };
        b = b.with_bucket_name(bucket).with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        });
        if let Some(region) = &self.region {
            b = b.with_region(region);
        }
        if let Some(endpoint) = &self.endpoint {
            b = b
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .with_allow_http(endpoint.scheme() == "http");
        }
        b.build()
    }
}

/// The output arguments of the worker and of `producer serve`, which reads images
/// back (each also an environment variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Where images go instead of FLUXQ_OUTPUT_DIR: a path, file:///path or s3://bucket/prefix.
    #[arg(long, env = "FLUXQ_OUTPUT_URL")]
    pub output_url: Option<OutputTarget>,
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2...); plain http is allowed for it.
    #[arg(long, env = "FLUXQ_S3_ENDPOINT")]
    pub s3_endpoint: Option<Url>,
    /// S3 region (default us-east-1, or AWS_REGION when no keys are given).
    #[arg(long, env = "FLUXQ_S3_REGION")]
    pub s3_region: Option<String>,
    /// S3 access key id; without it the usual AWS sources apply (web identity, container, instance).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true, value_parser = parse_secret)]
    pub aws_access_key_id: Option<ApiKey>,
    /// S3 secret access key (with AWS_ACCESS_KEY_ID).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub aws_secret_access_key: Option<ApiKey>,
    /// S3 session token, for temporary keys.
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub aws_session_token: Option<ApiKey>,
}

fn parse_secret(s: &str) -> Result<ApiKey, String> {
    match s.trim() {
        "" => Err("must not be empty".into()),
        k => Ok(ApiKey::new(k)),
    }
}

impl OutputArgs {
    /// Validates the arguments: keys come in pairs, endpoints are http(s).
    pub fn into_settings(self) -> Result<(Option<OutputTarget>, S3Settings), ConfigError> {
        let problem = |var, problem: &str| ConfigError {
            var,
            problem: problem.to_owned(),
        };
        match (&self.aws_access_key_id, &self.aws_secret_access_key) {
            (Some(_), None) => {
                return Err(problem(
                    "AWS_SECRET_ACCESS_KEY",
                    "required with AWS_ACCESS_KEY_ID",
                ));
            }
            (None, Some(_)) => {
                return Err(problem(
                    "AWS_ACCESS_KEY_ID",
                    "required with AWS_SECRET_ACCESS_KEY",
                ));
            }
            _ => {}
        }
        if let Some(e) = &self.s3_endpoint
            && (!matches!(e.scheme(), "http" | "https") || e.host_str().is_none())
        {
            return Err(problem(
                "FLUXQ_S3_ENDPOINT",
                "must be an http:// or https:// URL",
            ));
        }
        let s3 = S3Settings {
            endpoint: self.s3_endpoint,
            region: self.s3_region.filter(|r| !r.trim().is_empty()),
            access_key_id: self.aws_access_key_id,
            secret_access_key: self.aws_secret_access_key,
            session_token: self.aws_session_token,
        };
        Ok((self.output_url, s3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_directory_or_a_bucket() {
        let t = |s: &str| s.parse::<OutputTarget>();
        assert_eq!(t("./out"), Ok(OutputTarget::Dir("./out".into())));
        assert_eq!(
            t("file:///data/out"),
            Ok(OutputTarget::Dir("/data/out".into()))
        );
        let s3 = |b: &str, p: &str| {
            Ok(OutputTarget::S3 {
                bucket: b.into(),
                prefix: p.into(),
            })
        };
        assert_eq!(t("s3://images/fluxq/prod/"), s3("images", "fluxq/prod"));
        assert_eq!(t("s3://images"), s3("images", ""));
        assert_eq!(
            t("s3://b/a/../c"),
            s3("b", "c"),
            "dot segments are resolved"
        );
        for bad in [
            "",
            "s3://",
            "s3:///prefix",
            "s3://b/a//c",
            "gs://b/p",
            "s3://b/p?x=1",
        ] {
            assert!(t(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn keys_come_in_pairs_and_never_print() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            out: OutputArgs,
        }
        let parse = |args: &[&str]| Cli::try_parse_from(args).map_err(|e| e.to_string());
        let cli =
            parse(&["x", "--aws-access-key-id", "AKIDEXAMPLE"]).unwrap_or_else(|e| panic!("{e}"));
        let err = cli
            .out
            .into_settings()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("AWS_SECRET_ACCESS_KEY:"), "{err}");
        let args = [
            "x",
            "--aws-access-key-id",
            "AKIDEXAMPLE",
            "--aws-secret-access-key",
            "s3cr3t-Value",
        ];
        let cli = parse(&args).unwrap_or_else(|e| panic!("{e}"));
        let (_, s3) = cli.out.into_settings().unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{s3:?}");
        assert!(
            !shown.contains("s3cr3t-Value") && !shown.contains("AKIDEXAMPLE"),
            "{shown}"
        );
        assert_eq!(
            s3.secret_access_key
                .map(|k| k.expose().to_owned())
                .as_deref(),
            Some("s3cr3t-Value")
        );
    }
}
