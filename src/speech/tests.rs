//! Table-driven: each row is a value and the tokens it must give.

use super::*;

fn check(lang: Lang, kind: Kind, rows: &[(&str, &str)]) {
    for (value, want) in rows {
        let got = say(lang, kind, value).unwrap_or_else(|e| panic!("{lang:?} {kind} {value}: {e}"));
        assert_eq!(got.join(" "), *want, "{lang:?} {kind} {value}");
        let known = lang.tokens();
        for t in &got {
            assert!(
                known.contains(t),
                "{lang:?}: token {t} missing from the token list"
            );
        }
    }
}

#[test]
fn english_cardinals() {
    check(
        Lang::En,
        Kind::Number,
        &[
            ("0", "0"),
            ("1", "1"),
            ("2", "2"),
            ("3", "3"),
            ("4", "4"),
            ("5", "5"),
            ("10", "10"),
            ("11", "11"),
            ("12", "12"),
            ("14", "14"),
            ("15", "15"),
            ("19", "19"),
            ("20", "20"),
            ("21", "20 1"),
            ("22", "20 2"),
            ("25", "20 5"),
            ("100", "1 hundred"),
            ("101", "1 hundred 1"),
            ("111", "1 hundred 11"),
            ("119", "1 hundred 19"),
            ("200", "2 hundred"),
            ("999", "9 hundred 90 9"),
            ("1000", "1 thousand"),
            ("1001", "1 thousand 1"),
            ("1002", "1 thousand 2"),
            ("1005", "1 thousand 5"),
            ("1011", "1 thousand 11"),
            ("1021", "1 thousand 20 1"),
            ("1022", "1 thousand 20 2"),
            ("2000", "2 thousand"),
            ("5000", "5 thousand"),
            ("10000", "10 thousand"),
            ("11000", "11 thousand"),
            ("21000", "20 1 thousand"),
            ("22000", "20 2 thousand"),
            ("100000", "1 hundred thousand"),
            ("999999", "9 hundred 90 9 thousand 9 hundred 90 9"),
            ("1000000", "1 million"),
            ("2000000", "2 million"),
            ("5000000", "5 million"),
            ("21000000", "20 1 million"),
            ("1000000000", "1 billion"),
            ("2000000000", "2 billion"),
            ("1000000000000000", "1 quadrillion"),
            ("-5", "minus 5"),
            ("-1021", "minus 1 thousand 20 1"),
            ("-0", "0"),
        ],
    );
}

#[test]
fn russian_cardinals() {
    check(
        Lang::Ru,
        Kind::Number,
        &[
            ("0", "0"),
            ("1", "1m"),
            ("2", "2m"),
            ("3", "3"),
            ("4", "4"),
            ("5", "5"),
            ("10", "10"),
            ("11", "11"),
            ("12", "12"),
            ("14", "14"),
            ("15", "15"),
            ("19", "19"),
            ("20", "20"),
            ("21", "20 1m"),
            ("22", "20 2m"),
            ("25", "20 5"),
            ("100", "100"),
            ("101", "100 1m"),
            ("111", "100 11"),
            ("119", "100 19"),
            ("200", "200"),
            ("999", "900 90 9"),
            ("1000", "1f thousand-one"),
            ("1001", "1f thousand-one 1m"),
            ("1002", "1f thousand-one 2m"),
            ("1005", "1f thousand-one 5"),
            ("1011", "1f thousand-one 11"),
            ("1021", "1f thousand-one 20 1m"),
            ("1022", "1f thousand-one 20 2m"),
            ("2000", "2f thousand-few"),
            ("5000", "5 thousand-many"),
            ("10000", "10 thousand-many"),
            ("11000", "11 thousand-many"),
            ("12000", "12 thousand-many"),
            ("21000", "20 1f thousand-one"),
            ("22000", "20 2f thousand-few"),
            ("100000", "100 thousand-many"),
            ("999999", "900 90 9 thousand-many 900 90 9"),
            ("1000000", "1m million-one"),
            ("2000000", "2m million-few"),
            ("5000000", "5 million-many"),
            ("21000000", "20 1m million-one"),
            ("1000000000", "1m billion-one"),
            ("2000000000", "2m billion-few"),
            ("1000000000000000", "1m quadrillion-one"),
            ("-5", "minus 5"),
        ],
    );
}

#[test]
fn money_from_decimal_strings() {
    check(
        Lang::En,
        Kind::Money,
        &[
            ("0", "0 unit-many"),
            ("1", "1 unit-one"),
            ("2.02", "2 unit-many 2 subunit-many"),
            ("11.11", "11 unit-many 11 subunit-many"),
            ("21.21", "20 1 unit-many 20 1 subunit-many"),
            ("0.01", "1 subunit-one"),
            ("1.01", "1 unit-one 1 subunit-one"),
            ("1000.5", "1 thousand unit-many 50 subunit-many"),
            (
                "-2341.23",
                "minus 2 thousand 3 hundred 40 1 unit-many 20 3 subunit-many",
            ),
            (
                "15023007000.30",
                "15 billion 20 3 million 7 thousand unit-many 30 subunit-many",
            ),
            ("12.3400", "12 unit-many 30 4 subunit-many"),
        ],
    );
    check(
        Lang::Ru,
        Kind::Money,
        &[
            ("0", "0 unit-many"),
            ("1", "1m unit-one"),
            ("2", "2m unit-few"),
            ("5", "5 unit-many"),
            ("11", "11 unit-many"),
            ("21", "20 1m unit-one"),
            ("22", "20 2m unit-few"),
            ("0.01", "1f subunit-one"),
            ("0.02", "2f subunit-few"),
            ("0.05", "5 subunit-many"),
            ("0.11", "11 subunit-many"),
            ("0.21", "20 1f subunit-one"),
            ("0.22", "20 2f subunit-few"),
            ("0.5", "50 subunit-many"),
            ("1000.5", "1f thousand-one unit-many 50 subunit-many"),
            ("2001", "2f thousand-few 1m unit-one"),
            (
                "-2341.23",
                "minus 2f thousand-few 300 40 1m unit-one 20 3 subunit-few",
            ),
        ],
    );
}

#[test]
fn identifiers_in_groups_of_three() {
    check(
        Lang::En,
        Kind::Digits,
        &[
            ("200045", "2 hundred pause 0 40 5"),
            ("000123", "0 0 0 pause 1 hundred 20 3"),
            ("1002003", "1 hundred pause 2 hundred pause 3"),
            ("007", "0 0 7"),
            ("0", "0"),
        ],
    );
    check(
        Lang::Ru,
        Kind::Digits,
        &[("200045", "200 pause 0 40 5"), ("001", "0 0 1m")],
    );
}

#[test]
fn durations_round_to_minutes() {
    let rows_en = [
        ("0s", "less-than-a-minute"),
        ("59s", "less-than-a-minute"),
        ("60s", "1 minute-one"),
        ("61s", "1 minute-one"),
        ("90s", "2 minute-many"),
        ("10m", "10 minute-many"),
    ];
    check(Lang::En, Kind::Duration, &rows_en);
    check(
        Lang::Ru,
        Kind::Duration,
        &[
            ("0s", "less-than-a-minute"),
            ("59s", "less-than-a-minute"),
            ("60s", "1f minute-one"),
            ("61s", "1f minute-one"),
            ("90s", "2f minute-few"),
            ("10m", "10 minute-many"),
        ],
    );
}

#[test]
fn ordinals() {
    check(
        Lang::En,
        Kind::Ordinal,
        &[
            ("1", "ord-1"),
            ("3", "ord-3"),
            ("21", "20 ord-1"),
            ("100", "1 ord-hundred"),
            ("112", "1 hundred ord-12"),
            ("1000", "1 ord-thousand"),
        ],
    );
    check(
        Lang::Ru,
        Kind::Ordinal,
        &[
            ("1", "ord-1"),
            ("3", "ord-3"),
            ("20", "ord-20"),
            ("21", "20 ord-1"),
            ("100", "ord-100"),
            ("120", "100 ord-20"),
            ("1000", "ord-thousand"),
            ("1021", "1f thousand-one 20 ord-1"),
        ],
    );
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    for (kind, value) in [
        (Kind::Number, "12,5.3"),
        (Kind::Number, "abc"),
        (Kind::Number, "1e5"),
        (Kind::Number, ""),
        (Kind::Number, "1000000000000000000"),
        (Kind::Money, "12,5.3"),
        (Kind::Money, "1.234"),
        (Kind::Money, "1."),
        (Kind::Money, "--1"),
        (Kind::Ordinal, "0"),
        (Kind::Ordinal, "-3"),
        (Kind::Digits, "12a"),
        (Kind::Duration, "soon"),
    ] {
        let e = say(Lang::En, kind, value).expect_err(value);
        assert_eq!(e.value, value);
        assert!(!e.reason.is_empty());
    }
}
