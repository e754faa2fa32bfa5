//! Links in emails, built from a template with a `{token}` placeholder.

use crate::error::ConfigError;

/// A URL template such as `https://app.example/verify#token={token}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTemplate(String);

impl LinkTemplate {
    /// Checks that `template` has exactly one `{token}` placeholder.
    pub fn new(template: impl Into<String>) -> Result<Self, ConfigError> {
        let template = template.into();
        if template.matches("{token}").count() != 1 {
            return Err(ConfigError::Invalid {
                name: "link_template",
                reason: format!("{template:?} must contain `{{token}}` exactly once"),
            });
        }
        Ok(LinkTemplate(template))
    }

    /// The default link under `public_url` for `path` (`verify`, `password-reset`).
    pub(crate) fn default_for(public_url: &str, path: &str) -> Self {
        LinkTemplate(format!(
            "{}/{path}#token={{token}}",
            public_url.trim_end_matches('/')
        ))
    }

    /// The link for `token`. Tokens are URL-safe (base64url and `.`), so no
    /// escaping is needed.
    pub fn render(&self, token: &str) -> String {
        self.0.replace("{token}", token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_links_carry_the_token_in_the_fragment() {
        let t = LinkTemplate::default_for("http://localhost:3000/", "verify");
        assert_eq!(
            t.render("abc.def"),
            "http://localhost:3000/verify#token=abc.def"
        );
    }

    #[test]
    fn templates_need_exactly_one_placeholder() {
        assert!(LinkTemplate::new("https://x/verify").is_err());
        assert!(LinkTemplate::new("https://x/{token}/{token}").is_err());
        assert!(LinkTemplate::new("https://x/v?t={token}").is_ok());
    }
}
