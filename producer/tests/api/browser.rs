//! A browser's view of the dashboard for tests: log in with a token (keeping the
//! session cookie by hand), GET pages as HTML, POST forms, and pick values out of the
//! HTML (element ids, the CSRF token, image sources).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::server::Server;

/// A browser with (or without) a session.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Browser {
    /// A browser without a session (redirects are not followed).
    pub fn new(s: &Server) -> Self {
        Self {
            base: s.base.clone(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Logs in with `token` (the form's one field); the answer of the POST.
    pub async fn login(&mut self, token: &str) -> Page {
        let p = self
            .post("/login", &[("token", token), ("next", "/")])
            .await;
        if let Some(c) = p.headers.get(SET_COOKIE) {
            let c = c.to_str().unwrap();
            self.cookie = Some(c.split(';').next().unwrap().to_owned());
        }
        p
    }

    /// A browser logged in with `token`.
    pub async fn logged_in(s: &Server, token: &str) -> Self {
        let mut b = Self::new(s);
        let p = b.login(token).await;
        assert_eq!(p.status, 303, "login: {}", p.html);
        assert!(b.cookie.is_some(), "a session cookie");
        b
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Page {
        let r = match &self.cookie {
            Some(c) => r.header(COOKIE, c),
            None => r,
        };
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            headers,
            html: resp.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// `GET path`, which must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(p.status, 200, "GET {path}: {} {:?}", p.html, p.location);
        p.html
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(r).await
    }

    /// The bytes and content type of `path`.
    pub async fn bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        let resp = r.send().await.unwrap();
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|c| c.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            resp.status().as_u16(),
            ct,
            resp.bytes().await.unwrap().to_vec(),
        )
    }
}

/// The text inside the element with `id` (tags removed, whitespace collapsed).
pub fn text_of(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open = start + html[start..].find('>').unwrap() + 1;
    let close = open
        + html[open..]
            .find("</dd>")
            .or_else(|| html[open..].find("</"))
            .unwrap();
    strip(&html[open..close])
}

/// `html` without its tags, whitespace collapsed.
pub fn strip(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&quot;", "\"")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every value of attribute `attr` on tags named `tag`.
pub fn attrs(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split(&format!("<{tag} ")).skip(1) {
        let tag_text = &part[..part.find('>').unwrap_or(part.len())];
        if let Some(i) = tag_text.find(&format!("{attr}=\"")) {
            let v = &tag_text[i + attr.len() + 2..];
            out.push(v[..v.find('"').unwrap()].replace("&amp;", "&"));
        }
    }
    out
}

/// The CSRF token of the page's forms.
pub fn csrf(html: &str) -> String {
    let i = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let v = &html[i + 19..];
    v[..v.find('"').unwrap()].to_owned()
}
