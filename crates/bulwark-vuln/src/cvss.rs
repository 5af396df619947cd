//! CVSS v3.0 and v3.1 base scores, computed from the vector string.
//!
//! The formula is the one in the CVSS v3.1 specification, section 7.1,
//! including its `Roundup` defined on integers so that floating-point noise
//! never lifts a score by 0.1. CVSS v3.0 vectors use the same weights; the
//! only difference, v3.0's naive `Roundup`, changes no score that v3.1's
//! does not also give for real-world vectors, so one function serves both.

/// A parsed CVSS v3 base vector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CvssV3 {
    /// `3.0` or `3.1`, as the prefix says.
    pub minor: u8,
    av: f64,
    ac: f64,
    pr: Privileges,
    ui: f64,
    scope_changed: bool,
    c: f64,
    i: f64,
    a: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Privileges {
    None,
    Low,
    High,
}

impl CvssV3 {
    /// Parses `CVSS:3.x/AV:_/AC:_/PR:_/UI:_/S:_/C:_/I:_/A:_` (temporal and
    /// environmental metrics after the base ones are accepted and ignored).
    /// Returns `None` when the vector is not a complete v3 base vector.
    pub fn parse(vector: &str) -> Option<CvssV3> {
        let mut parts = vector.trim().split('/');
        let minor = match parts.next()? {
            "CVSS:3.0" => 0,
            "CVSS:3.1" => 1,
            _ => return None,
        };
        let (mut av, mut ac, mut pr, mut ui, mut s, mut c, mut i, mut a) =
            (None, None, None, None, None, None, None, None);
        for part in parts {
            let (key, value) = part.split_once(':')?;
            match key {
                "AV" => {
                    av = Some(match value {
                        "N" => 0.85,
                        "A" => 0.62,
                        "L" => 0.55,
                        "P" => 0.2,
                        _ => return None,
                    })
                }
                "AC" => {
                    ac = Some(match value {
                        "L" => 0.77,
                        "H" => 0.44,
                        _ => return None,
                    })
                }
                "PR" => {
                    pr = Some(match value {
                        "N" => Privileges::None,
                        "L" => Privileges::Low,
                        "H" => Privileges::High,
                        _ => return None,
                    })
                }
                "UI" => {
                    ui = Some(match value {
                        "N" => 0.85,
                        "R" => 0.62,
                        _ => return None,
                    })
                }
                "S" => {
                    s = Some(match value {
                        "U" => false,
                        "C" => true,
                        _ => return None,
                    })
                }
                "C" | "I" | "A" => {
                    let weight = match value {
                        "H" => 0.56,
                        "L" => 0.22,
                        "N" => 0.0,
                        _ => return None,
                    };
                    match key {
                        "C" => c = Some(weight),
                        "I" => i = Some(weight),
                        _ => a = Some(weight),
                    }
                }
                // Temporal and environmental metrics do not change the base score.
                _ => {}
            }
        }
        Some(CvssV3 {
            minor,
            av: av?,
            ac: ac?,
            pr: pr?,
            ui: ui?,
            scope_changed: s?,
            c: c?,
            i: i?,
            a: a?,
        })
    }

    /// The base score, 0.0 to 10.0, with one decimal.
    pub fn base_score(&self) -> f64 {
        let iss = 1.0 - (1.0 - self.c) * (1.0 - self.i) * (1.0 - self.a);
        let impact = if self.scope_changed {
            7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
        } else {
            6.42 * iss
        };
        let pr = match (self.pr, self.scope_changed) {
            (Privileges::None, _) => 0.85,
            (Privileges::Low, false) => 0.62,
            (Privileges::Low, true) => 0.68,
            (Privileges::High, false) => 0.27,
            (Privileges::High, true) => 0.5,
        };
        let exploitability = 8.22 * self.av * self.ac * pr * self.ui;
        if impact <= 0.0 {
            return 0.0;
        }
        if self.scope_changed {
            roundup((1.08 * (impact + exploitability)).min(10.0))
        } else {
            roundup((impact + exploitability).min(10.0))
        }
    }
}

/// The base score of `vector`, or `None` if it is not a CVSS v3 vector.
pub fn base_score(vector: &str) -> Option<f64> {
    CvssV3::parse(vector).map(|v| v.base_score())
}

/// CVSS v3.1's `Roundup`: the smallest number with one decimal that is
/// greater than or equal to its input, computed on integers.
fn roundup(value: f64) -> f64 {
    let int = (value * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) as f64 + 1.0) / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores from the FIRST calculator and NVD.
    #[test]
    fn known_vectors() {
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N", 4.7),
            ("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.8),
            ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 9.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8),
        ] {
            assert_eq!(base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn rejects_incomplete_or_other_versions() {
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"), None);
        assert_eq!(base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), None);
        assert_eq!(
            base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            None
        );
        assert_eq!(
            base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
    }

    #[test]
    fn roundup_is_exact() {
        assert_eq!(roundup(4.0), 4.0);
        assert_eq!(roundup(4.000_000_1), 4.0);
        assert_eq!(roundup(4.02), 4.1);
    }
}
