//! "Did you mean" suggestions by edit distance.

/// The candidate nearest to `name`, if it is near enough to be a likely typo: a case-only
/// difference, or an edit distance of at most a third of the name's length (at least 1). Failing
/// that, the one candidate that starts with `name` (`skip` → `skip_dependents`). Of candidates
/// equally near, the shortest (then the first in byte order) is given.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    close_matches(name, candidates).into_iter().next()
}

/// Every candidate as near to `name` as the nearest, by the measure of [`did_you_mean`], shortest
/// first. One match means the typo has one reading, so replacing it is safe to do unasked; two or
/// more (`build1` and `build2` for `build3`) are for a person to choose from.
pub fn close_matches<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().filter(|candidate| *candidate != name).collect();
    let length = name.chars().count();
    let limit = (length / 3).max(1);
    let lowered = name.to_lowercase();
    // Lengths further apart than the limit are further apart in edit distance too: those are not
    // measured (a pasted megabyte of a key costs nothing here).
    let mut near: Vec<(usize, &str)> = candidates
        .iter()
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= limit)
        .map(|&candidate| {
            let distance = if candidate.to_lowercase() == lowered { 0 } else { strsim::osa_distance(name, candidate) };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    if let Some(nearest) = near.iter().map(|(distance, _)| *distance).min() {
        near.retain(|(distance, _)| *distance == nearest);
        let mut near: Vec<&str> = near.into_iter().map(|(_, candidate)| candidate).collect();
        // A name declared twice (a `duplicate-id`) is still one reading.
        near.sort_unstable_by_key(|candidate| (candidate.len(), *candidate));
        near.dedup();
        return near;
    }
    let mut prefixed: Vec<&str> =
        candidates.into_iter().filter(|candidate| name.len() >= 3 && candidate.starts_with(name)).collect();
    prefixed.sort_unstable();
    prefixed.dedup();
    if prefixed.len() == 1 {
        prefixed
    } else {
        Vec::new()
    }
}

/// `did you mean `a`?`, or `did you mean `a` or `b`?` for several matches, for a help text.
pub fn did_you_mean_any(matches: &[&str]) -> Option<String> {
    let quoted: Vec<String> = matches.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => None,
        Some((last, [])) => Some(format!("did you mean {last}?")),
        Some((last, rest)) => Some(format!("did you mean {} or {last}?", rest.join(", "))),
    }
}

/// `did you mean `x`?` for a help text.
pub fn did_you_mean_help<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(name, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::{close_matches, did_you_mean, did_you_mean_any};

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

    #[test]
    fn equally_near_candidates_are_all_close_matches() {
        assert_eq!(close_matches("build3", ["build1", "build2", "test"]), ["build1", "build2"]);
        assert_eq!(close_matches("biuld", ["build", "test", "build"]), ["build"]);
        // The nearest wins over one further away, even within the limit.
        assert_eq!(close_matches("deploy_prd", ["deploy_prod", "deploy_stg"]), ["deploy_prod"]);
        assert_eq!(close_matches("xyz", ["build"]), Vec::<&str>::new());
        assert_eq!(did_you_mean_any(&["a"]).as_deref(), Some("did you mean `a`?"));
        assert_eq!(did_you_mean_any(&["a", "b", "c"]).as_deref(), Some("did you mean `a`, `b` or `c`?"));
        assert_eq!(did_you_mean_any(&[]), None);
    }
}
