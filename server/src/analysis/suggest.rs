//! "Did you mean" suggestions by edit distance.

/// The candidate nearest to `name`, if it is near enough to be a likely typo: a case-only
/// difference, or an edit distance of at most a third of the name's length (at least 1). Failing
/// that, the one candidate that starts with `name` (`skip` → `skip_dependents`).
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().filter(|candidate| *candidate != name).collect();
    let length = name.chars().count();
    let limit = (length / 3).max(1);
    let lowered = name.to_lowercase();
    // Lengths further apart than the limit are further apart in edit distance too: those are not
    // measured (a pasted megabyte of a key costs nothing here).
    let nearest = candidates
        .iter()
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= limit)
        .map(|&candidate| {
            let distance =
                if candidate.to_lowercase() == lowered { 0 } else { strsim::damerau_levenshtein(name, candidate) };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, candidate.len(), *candidate))
        .map(|(_, candidate)| candidate);
    nearest.or_else(|| {
        let mut prefixed = candidates.iter().filter(|candidate| name.len() >= 3 && candidate.starts_with(name));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// `did you mean `x`?` for a help text.
pub fn did_you_mean_help<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(name, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn near_names_are_suggested_and_far_ones_are_not() {
        let ids = ["build", "test", "deploy_prod"];
        assert_eq!(did_you_mean("buld", ids), Some("build"));
        assert_eq!(did_you_mean("tset", ids), Some("test"));
        assert_eq!(did_you_mean("Build", ids), Some("build"));
        assert_eq!(did_you_mean("deploy_prd", ids), Some("deploy_prod"));
        assert_eq!(did_you_mean("xyz", ids), None);
        assert_eq!(did_you_mean("build", ids), None);
        assert_eq!(did_you_mean("skip", ["abort", "skip_dependents", "continue"]), Some("skip_dependents"));
    }
}
