//! Exact Kubernetes resource quantities (`250m`, `0.5`, `128Mi`, `1G`, `1e3`, plain bytes).
//!
//! Values are kept as exact fractions so that conversions round once, up, like Kubernetes does;
//! floating point would turn `0.1` CPU into 99 or 101 millicores depending on the path taken.

use std::fmt;

/// A non-negative quantity as the exact fraction `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    numerator: u128,
    denominator: u128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MAX_DIGITS: usize = 30;

impl Quantity {
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let bad = |why: &str| QuantityError(format!("invalid quantity {text:?}: {why}"));
        let s = text.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.starts_with('-') {
            return Err(bad("negative values are not allowed for resources"));
        }
        let number_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(number_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad("expected a number"));
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > MAX_DIGITS {
            return Err(bad("too many digits"));
        }
        let mantissa: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| bad("expected a number"))?
        };
        let mut q = Quantity {
            numerator: mantissa,
            denominator: pow10(frac_part.len() as u32).ok_or_else(|| bad("too precise"))?,
        };
        let (mul, div): (u128, u128) = match suffix {
            "" => (1, 1),
            "n" => (1, 1_000_000_000),
            "u" => (1, 1_000_000),
            "m" => (1, 1_000),
            "k" => (1_000, 1),
            "M" => (1_000_000, 1),
            "G" => (1_000_000_000, 1),
            "T" => (pow10(12).unwrap_or(0), 1),
            "P" => (pow10(15).unwrap_or(0), 1),
            "E" => (pow10(18).unwrap_or(0), 1),
            "Ki" => (1 << 10, 1),
            "Mi" => (1 << 20, 1),
            "Gi" => (1 << 30, 1),
            "Ti" => (1 << 40, 1),
            "Pi" => (1 << 50, 1),
            "Ei" => (1 << 60, 1),
            s if s.starts_with(['e', 'E']) => {
                let exp: i32 = s[1..]
                    .parse()
                    .map_err(|_| bad("unknown suffix (expected n, u, m, k, M, G, T, P, E, Ki..Ei or an exponent)"))?;
                if exp.abs() > 30 {
                    return Err(bad("exponent out of range"));
                }
                let p = pow10(exp.unsigned_abs()).ok_or_else(|| bad("exponent out of range"))?;
                if exp >= 0 { (p, 1) } else { (1, p) }
            }
            _ => {
                return Err(bad(
                    "unknown suffix (expected n, u, m, k, M, G, T, P, E, Ki..Ei or an exponent)",
                ));
            }
        };
        q.numerator = q
            .numerator
            .checked_mul(mul)
            .ok_or_else(|| bad("too large"))?;
        q.denominator = q
            .denominator
            .checked_mul(div)
            .ok_or_else(|| bad("too large"))?;
        Ok(q)
    }

    /// `ceil(self × mul / div)`, or None on overflow.
    pub fn scaled_ceil(self, mul: u128, div: u128) -> Option<u128> {
        let n = self.numerator.checked_mul(mul)?;
        let d = self.denominator.checked_mul(div)?;
        if d == 0 {
            return None;
        }
        Some(n.div_ceil(d))
    }

    /// Millicores, rounded up (Kubernetes' own resolution for CPU).
    pub fn millis_ceil(self) -> Option<u128> {
        self.scaled_ceil(1000, 1)
    }

    /// Mebibytes, rounded up.
    pub fn mebibytes_ceil(self) -> Option<u128> {
        self.scaled_ceil(1, 1 << 20)
    }

    /// Whole units, rounded up (device counts).
    pub fn units_ceil(self) -> Option<u128> {
        self.scaled_ceil(1, 1)
    }

    /// Exact comparison.
    pub fn cmp_exact(self, other: Quantity) -> Option<std::cmp::Ordering> {
        let a = self.numerator.checked_mul(other.denominator)?;
        let b = other.numerator.checked_mul(self.denominator)?;
        Some(a.cmp(&b))
    }
}

fn pow10(exp: u32) -> Option<u128> {
    10u128.checked_pow(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn millis(s: &str) -> u128 {
        Quantity::parse(s).unwrap().millis_ceil().unwrap()
    }
    fn mib(s: &str) -> u128 {
        Quantity::parse(s).unwrap().mebibytes_ceil().unwrap()
    }

    #[test]
    fn cpu_forms() {
        assert_eq!(millis("250m"), 250);
        assert_eq!(millis("0.5"), 500);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("100n"), 1);
        assert_eq!(millis("1e3"), 1_000_000);
        assert_eq!(millis("2E-1"), 200);
        assert_eq!(millis("0.1"), 100);
    }

    #[test]
    fn memory_forms() {
        assert_eq!(mib("128Mi"), 128);
        assert_eq!(mib("1Gi"), 1024);
        assert_eq!(mib("1G"), 954); // 10^9 / 2^20 = 953.67
        assert_eq!(mib("134217728"), 128);
        assert_eq!(mib("100M"), 96);
        assert_eq!(mib("1e6"), 1);
        assert_eq!(mib("0.5Gi"), 512);
        assert_eq!(mib("1k"), 1);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            "", "abc", "12 8Mi", "1.2.3", "-1", "5MB", "1Qi", "1e", ".", "1e99",
        ] {
            let err = Quantity::parse(bad).unwrap_err();
            assert!(
                err.0.contains(&format!("{bad:?}").replace("\"", "")) || err.0.contains("invalid"),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn millicores_round_trip(m in 0u64..10_000_000) {
            prop_assert_eq!(millis(&format!("{m}m")), m as u128);
        }

        #[test]
        fn decimal_cores_exact(whole in 0u64..1000, frac in 0u64..1000) {
            let s = format!("{whole}.{frac:03}");
            prop_assert_eq!(millis(&s), (whole * 1000 + frac) as u128);
        }

        #[test]
        fn binary_and_plain_bytes_agree(n in 0u64..100_000) {
            prop_assert_eq!(mib(&format!("{n}Mi")), n as u128);
            prop_assert_eq!(mib(&format!("{}", n as u128 * (1 << 20))), n as u128);
            prop_assert_eq!(mib(&format!("{n}Ki")), (n as u128).div_ceil(1024));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = Quantity::parse(&s);
        }
    }
}
