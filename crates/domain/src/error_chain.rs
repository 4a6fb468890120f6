//! One log line for an error and every cause behind it.

use std::fmt;

/// Displays an error and each of its sources, `outer: inner: innermost`, so one log line carries the whole
/// chain (a `Display` alone usually shows only the outermost layer; a `reqwest::Error`, for one, keeps the
/// reason, such as a refused connection, in its sources).
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn every_cause_is_shown_in_order() {
        let e = Layer(
            "outer",
            Some(Box::new(Layer(
                "middle",
                Some(Box::new(Layer("inner", None))),
            ))),
        );
        assert_eq!(ErrorChain(&e).to_string(), "outer: middle: inner");
        assert_eq!(ErrorChain(&Layer("alone", None)).to_string(), "alone");
    }
}
