//! Command-line options of the `tidy-photos` tool, parsed by hand to keep the binary free of dependencies.

use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Options {
    pub source: PathBuf,
    pub target: PathBuf,
    pub dry_run: bool,
    pub pattern: String,
    pub verbose: u8,
}

const USAGE: &str = "usage: tidy-photos [--dry-run] [-v...] [--pattern FMT] SOURCE TARGET";

pub fn parse_args<I: Iterator<Item = String>>(mut args: I) -> Result<Options, String> {
    let mut opts = Options { pattern: "{year}/{month}".to_string(), ..Default::default() };
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dry-run" | "-n" => opts.dry_run = true,
            "--pattern" => {
                opts.pattern = args.next().ok_or("--pattern needs a value")?;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            s if s.starts_with("-v") && s[1..].chars().all(|c| c == 'v') => {
                opts.verbose = opts.verbose.saturating_add((s.len() - 1) as u8);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    if positional.len() != 2 {
        return Err(USAGE.to_string());
    }
    opts.target = positional.pop().unwrap();
    opts.source = positional.pop().unwrap();
    Ok(opts)
}

/// Folder for a photo taken in the given year and month, following the --pattern template.
pub fn target_folder(opts: &Options, year: i32, month: u32) -> PathBuf {
    let rel = opts
        .pattern
        .replace("{year}", &year.to_string())
        .replace("{month}", &format!("{month:02}"));
    opts.target.join(rel)
}
