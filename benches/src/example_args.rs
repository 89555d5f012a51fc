//! Positional arguments of the bench examples (`benches/examples/`): counts such as
//! `CLUSTERS` and `ROUNDS`, each with a default, and an error that names the argument.

/// The next argument of `args` as a count, or `default` when there is none; an argument that
/// is not a count is an error naming `name`.
pub fn count(
    args: &mut impl Iterator<Item = String>,
    default: usize,
    name: &str,
) -> Result<usize, String> {
    args.next()
        .map_or(Ok(default), |a| a.trim().parse())
        .map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_default_and_errors_name_the_argument() {
        let mut args = vec!["7".to_string(), "x".to_string()].into_iter();
        assert_eq!(count(&mut args, 3, "CLUSTERS"), Ok(7));
        let err = count(&mut args, 3, "ROUNDS").unwrap_err();
        assert!(err.starts_with("ROUNDS: "), "{err}");
        assert_eq!(count(&mut args, 3, "MORE"), Ok(3));
    }
}
