//! Message templates: `{{name}}` placeholders in an SMS body, filled from the call's variables.
//!
//! A placeholder is `{{`, a name, then `}}`, with optional spaces or tabs around the name. Names
//! use ASCII letters, digits, `_`, `.` and `-`. A single `{` or `}` is literal text. Values are
//! inserted as they are and never expanded again.

use thiserror::Error;

/// Failure to parse or fill a template. Offsets are byte offsets of the opening `{{`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error(
        "template variable `{name}` is not set. Pass it in the call's dynamic variables or remove it from the template"
    )]
    UnknownVariable { name: String },

    #[error(
        "template has an opening `{{{{` at byte {offset} with no closing `}}}}`. Add the closing braces or remove the opening ones"
    )]
    Unclosed { offset: usize },

    #[error("{}", invalid_name_message(.name, *.offset))]
    InvalidName { name: String, offset: usize },
}

fn invalid_name_message(name: &str, offset: usize) -> String {
    if name.is_empty() {
        format!(
            "template variable at byte {offset} has an empty name. Write a name between the braces, e.g. `{{{{first_name}}}}`"
        )
    } else {
        format!(
            "template variable name `{name}` at byte {offset} is invalid. Use only ASCII letters, digits, `_`, `.` and `-`"
        )
    }
}

/// A run of literal text or a placeholder, borrowed from the template.
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Renders `template`, replacing each placeholder with `lookup(name)`.
///
/// # Errors
///
/// Returns [`TemplateError::Unclosed`] or [`TemplateError::InvalidName`] for a malformed
/// placeholder, and [`TemplateError::UnknownVariable`] for the first name that `lookup` does not
/// know. The whole template is parsed before the first lookup, so a syntax error is reported even
/// when an earlier variable is missing.
pub fn render(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let pieces = parse(template)?;

    let mut output = String::with_capacity(template.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => output.push_str(text),
            Piece::Variable(name) => {
                let value = lookup(name).ok_or_else(|| TemplateError::UnknownVariable {
                    name: name.to_string(),
                })?;
                output.push_str(&value);
            }
        }
    }
    Ok(output)
}

/// Returns the variable names that `template` uses, in order of first use, each once.
///
/// # Errors
///
/// Returns [`TemplateError::Unclosed`] or [`TemplateError::InvalidName`] for a malformed
/// placeholder.
pub fn variables(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(template)? {
        if let Piece::Variable(name) = piece
            && !names.iter().any(|known| known == name)
        {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text_start = 0;

    while let Some(found) = template[text_start..].find("{{") {
        let open = text_start + found;
        let name_start = open + 2;
        let close = match template[name_start..].find("}}") {
            Some(found) => name_start + found,
            None => return Err(TemplateError::Unclosed { offset: open }),
        };

        let name = template[name_start..close].trim_matches([' ', '\t']);
        if !is_valid_name(name) {
            return Err(TemplateError::InvalidName {
                name: name.to_string(),
                offset: open,
            });
        }

        if open > text_start {
            pieces.push(Piece::Text(&template[text_start..open]));
        }
        pieces.push(Piece::Variable(name));
        text_start = close + 2;
    }

    if text_start < template.len() {
        pieces.push(Piece::Text(&template[text_start..]));
    }
    Ok(pieces)
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn render_with(template: &str, pairs: &[(&str, &str)]) -> Result<String, TemplateError> {
        let values = vars(pairs);
        render(template, |name| values.get(name).cloned())
    }

    #[test]
    fn render_replaces_variables() {
        let rendered = render_with(
            "Hi {{first_name}}, see you {{ day }} at {{\ttime\t}}.",
            &[("first_name", "Ana"), ("day", "Tuesday"), ("time", "3pm")],
        );
        assert_eq!(
            rendered.as_deref(),
            Ok("Hi Ana, see you Tuesday at 3pm."),
            "three variables with and without spaces"
        );
    }

    #[test]
    fn render_without_placeholders() {
        assert_eq!(render_with("", &[]).as_deref(), Ok(""), "empty template");
        assert_eq!(
            render_with("plain text", &[]).as_deref(),
            Ok("plain text"),
            "plain text"
        );
    }

    #[test]
    fn single_braces_are_literal() {
        let rendered = render_with("{a} } { {x}} {{n}}}", &[("n", "1")]);
        assert_eq!(
            rendered.as_deref(),
            Ok("{a} } { {x}} 1}"),
            "single braces around and after a placeholder"
        );
    }

    #[test]
    fn values_are_not_expanded() {
        let rendered = render_with("{{a}}", &[("a", "{{b}}"), ("b", "no")]);
        assert_eq!(
            rendered.as_deref(),
            Ok("{{b}}"),
            "value that looks like a placeholder"
        );
    }

    #[test]
    fn name_characters_allowed() {
        let rendered = render_with("{{user.first-name_2}}", &[("user.first-name_2", "x")]);
        assert_eq!(
            rendered.as_deref(),
            Ok("x"),
            "dot, dash, underscore and digit in a name"
        );
    }

    #[test]
    fn unknown_variable_is_error() {
        let error = render_with("Hello {{first_name}}", &[]).unwrap_err();
        assert_eq!(
            error,
            TemplateError::UnknownVariable {
                name: "first_name".into()
            },
            "missing first_name"
        );
        assert_eq!(
            error.to_string(),
            "template variable `first_name` is not set. Pass it in the call's dynamic variables or remove it from the template",
            "message for a missing variable"
        );
    }

    #[test]
    fn unclosed_placeholder_is_error() {
        let error = render_with("ab {{name} and more", &[("name", "x")]).unwrap_err();
        assert_eq!(
            error,
            TemplateError::Unclosed { offset: 3 },
            "`{{{{name}}` at byte 3"
        );
        assert!(
            error.to_string().contains("byte 3"),
            "message names the offset: {error}"
        );
        assert!(
            error.to_string().contains("`{{`"),
            "message shows the opening braces: {error}"
        );
    }

    #[test]
    fn invalid_names_are_errors() {
        let cases = [
            ("{{}}", "", 0),
            ("x {{  }}", "", 2),
            ("{{first name}}", "first name", 0),
            ("{{ná}}", "ná", 0),
            ("{{{a}}}", "{a", 0),
            ("é {{a/b}}", "a/b", 3),
        ];
        for (template, name, offset) in cases {
            let expected = TemplateError::InvalidName {
                name: name.to_string(),
                offset,
            };
            assert_eq!(
                render_with(template, &[("a", "1")]),
                Err(expected.clone()),
                "render {template:?}"
            );
            assert_eq!(variables(template), Err(expected), "variables {template:?}");
        }
    }

    #[test]
    fn invalid_name_messages() {
        let empty = TemplateError::InvalidName {
            name: String::new(),
            offset: 4,
        };
        assert_eq!(
            empty.to_string(),
            "template variable at byte 4 has an empty name. Write a name between the braces, e.g. `{{first_name}}`",
            "message for an empty name"
        );
        let spaced = TemplateError::InvalidName {
            name: "first name".into(),
            offset: 0,
        };
        assert_eq!(
            spaced.to_string(),
            "template variable name `first name` at byte 0 is invalid. Use only ASCII letters, digits, `_`, `.` and `-`",
            "message for a name with a space"
        );
    }

    #[test]
    fn syntax_error_before_lookup() {
        let error = render_with("{{missing}} {{", &[]).unwrap_err();
        assert_eq!(
            error,
            TemplateError::Unclosed { offset: 12 },
            "unclosed braces reported before the missing variable"
        );
    }

    #[test]
    fn variables_in_order_once() {
        let names = variables("{{b}} {{ a }} {{b}} {{c.d}} {{a}}");
        assert_eq!(
            names,
            Ok(vec!["b".to_string(), "a".to_string(), "c.d".to_string()]),
            "names in first-use order"
        );
        assert_eq!(
            variables("no placeholders"),
            Ok(vec![]),
            "template without placeholders"
        );
    }
}
