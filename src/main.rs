//! Entry point: parse the command line, run the subcommand, print results (jobs on stdout,
//! findings and errors on stderr) and map the outcome to an exit code: 0 success, 1 failure
//! (an input could not be converted, a check failed, --strict tripped), 2 usage error.

use clap::Parser;
use knative2nomad::batch::{self, Batch};
use knative2nomad::cli::{
    CheckArgs, Cli, Command, ConvertArgs, MessageFormat, PlatformArgs, ValidateArgs,
};
use knative2nomad::findings::{self, Finding};
use knative2nomad::output::{self, Durability, OutputFormat};
use std::io::Write;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: a batch converts thousands of Services on every core,
/// each a burst of small allocations, and glibc's allocator took about a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert(args),
        Command::Check(args) => check(args),
        Command::Validate(args) => validate(args),
        Command::Explain(args) => explain(&args.code),
        Command::Deploy(args) => args.settings().and_then(knative2nomad::deploy::run),
        Command::Verify(args) => knative2nomad::verify::run(args.settings()),
        Command::Completions(args) => {
            knative2nomad::cli::write_completions(args.shell, &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(args) => man(args.subcommand.as_deref()),
        Command::Platform(args) => platform(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn print_findings(batch: &Batch, format: MessageFormat) {
    // Buffered: a batch prints tens of thousands of lines, and stderr is unbuffered.
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    let mut all: Vec<&Finding> = batch.all_findings().collect();
    all.sort_by(|a, b| {
        (
            a.location.file.as_ref(),
            a.location.line,
            a.location.column,
            a.code,
        )
            .cmp(&(
                b.location.file.as_ref(),
                b.location.line,
                b.location.column,
                b.code,
            ))
    });
    let mut human = batch::HumanDiagnostics::new(batch);
    for f in all {
        let _ = match format {
            MessageFormat::Human => writeln!(err, "{}", human.render(f)),
            MessageFormat::Json => {
                writeln!(err, "{}", serde_json::to_string(f).unwrap_or_default())
            }
        };
    }
    let _ = err.flush();
}

fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let (opts, rendering) = args.conversion()?;
    let keep = batch::Keep {
        jobs: false,
        rendered: Some(rendering),
    };
    // Jobs are printed or written as the batch converts them, so its memory does not grow
    // with the text of every job.
    let mut writer = args
        .output
        .as_ref()
        .map(|dir| output::OutputWriter::new(dir, args.force));
    // Not locked: the batch prints from whichever thread is free while the next step converts.
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut first = true;
    let mut print_error: Option<std::io::Error> = None;
    let bar = progress_bar();
    let mut emit = |services: &[batch::ServiceOutcome]| {
        if let Some(writer) = writer.as_mut() {
            writer.write(services.iter().flat_map(|s| s.files(rendering)).collect());
            return;
        }
        // Jobs go to stdout while the bar is drawn on stderr: on one terminal the bar must
        // step aside, or the two interleave.
        bar.suspend(|| {
            for s in services {
                let Some(text) = s.text(rendering) else {
                    continue;
                };
                let separator = if !first && rendering.format == OutputFormat::Hcl {
                    "\n"
                } else {
                    ""
                };
                first = false;
                if print_error.is_none()
                    && let Err(e) = write!(stdout, "{separator}{text}")
                {
                    print_error = Some(e);
                }
            }
            if print_error.is_none()
                && let Err(e) = stdout.flush()
            {
                print_error = Some(e);
            }
        });
    };
    let batch = if args.cluster.from_cluster {
        let inputs = read_cluster(&args)?;
        batch::run_inputs_emitting(inputs, &opts, keep, &bar, &mut emit)
    } else {
        batch::run_emitting(&args.paths, &opts, keep, &bar, &mut emit)
    };
    if let Some(e) = print_error {
        return Err(e.into());
    }
    stdout.flush()?;
    drop(stdout);
    print_findings(&batch, args.message_format);
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        eprint!("{}", knative2nomad::report::github_annotations(&batch));
    }
    write_reports(&args, &batch, &opts, rendering.format)?;
    let mut failed = batch.failed(&opts);
    if let (Some(writer), Some(dir)) = (writer, &args.output) {
        failed |= !print_write_report(&writer.report, dir);
    } else if args.message_format == MessageFormat::Human {
        // With --message-format json stderr is a stream of findings only.
        print_routes_need_output(&batch);
    }
    if args.message_format == MessageFormat::Human {
        eprintln!("{}", batch::summary(&batch));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The reports, JUnit file and secrets manifest `convert` was asked for.
fn write_reports(
    args: &ConvertArgs,
    batch: &Batch,
    opts: &knative2nomad::config::ConvertOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut files: Vec<(&std::path::Path, String)> = Vec::new();
    for path in &args.report {
        let text = if path.extension().is_some_and(|e| e == "json") {
            knative2nomad::report::json(batch, format)
        } else {
            knative2nomad::report::markdown(batch, format)
        };
        files.push((path, text));
    }
    if let Some(path) = &args.junit {
        files.push((
            path,
            knative2nomad::report::junit(batch, opts.strict, &opts.allow),
        ));
    }
    if let Some(path) = &args.secrets_manifest {
        files.push((path, knative2nomad::report::secrets_manifest(batch)));
    }
    for (path, text) in files {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        output::remove_stale_temp_files(dir.unwrap_or(std::path::Path::new(".")));
        if let Err(e) = output::write_atomic(path, text.as_bytes(), Durability::Synced) {
            anyhow::bail!("cannot write {}: {e}", path.display());
        }
    }
    Ok(())
}

/// What writing under `-o` did, on stderr; false when a file was refused or failed.
fn print_write_report(report: &output::WriteReport, dir: &std::path::Path) -> bool {
    for path in &report.refused {
        eprintln!(
            "error: {} exists and was not written by knative2nomad; not overwritten (use --force)",
            path.display()
        );
    }
    for (path, e) in &report.errors {
        eprintln!("error: cannot write {}: {e}", path.display());
    }
    for path in &report.stale_removed {
        eprintln!(
            "removed {}, a temporary file left by an interrupted run",
            path.display()
        );
    }
    eprintln!(
        "wrote {} file(s), {} unchanged, under {}",
        report.written.len(),
        report.unchanged.len(),
        dir.display()
    );
    report.refused.is_empty() && report.errors.is_empty()
}

/// Without `-o` only jobs are printed (stdout stays a stream of jobs), so say that the Services
/// that scale to zero also need their Traefik routes, which only `-o` writes.
fn print_routes_need_output(batch: &Batch) {
    let routes = batch.services.iter().filter(|s| s.scales_to_zero()).count();
    if routes > 0 {
        eprintln!(
            "note: {routes} service(s) scale to zero through Sablier and need their Traefik routes: convert with -o DIR to write them under DIR/{}/ (docs/serverless.md)",
            output::ROUTES_DIR
        );
    }
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Reads the Services (and the ConfigMaps and Secret key names they use) from the cluster as
/// YAML inputs, optionally exporting them like `kn service export`.
fn read_cluster(args: &ConvertArgs) -> anyhow::Result<Vec<knative2nomad::knative::load::Input>> {
    use knative2nomad::knative::cluster;
    let runtime = tokio::runtime::Runtime::new()?;
    let names: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
    let services = runtime.block_on(async {
        let connection = cluster::connect(&args.cluster.kube_settings()).await?;
        let query = cluster::ClusterQuery::new(&args.cluster.selection(), names, &connection)?;
        cluster::fetch_services(connection.client.clone(), &query).await
    })?;
    if services.is_empty() {
        eprintln!("no Knative Services found");
    }
    if let Some(dir) = &args.cluster.export_dir {
        let written = cluster::export(dir, &services)?;
        eprintln!(
            "exported {} Service manifest(s) under {}",
            written.len(),
            dir.display()
        );
    }
    Ok(services
        .into_iter()
        .map(cluster::ImportedService::into_input)
        .collect())
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (opts, rendering) = args.conversion()?;
    let keep = batch::Keep {
        jobs: false,
        rendered: Some(rendering),
    };
    // Compared as the batch converts, so only the diffs are kept, not every job's text.
    let mut checker = output::Checker::new(&args.against, rendering.format);
    let batch = batch::run_emitting(
        &args.paths,
        &opts,
        keep,
        &indicatif::ProgressBar::hidden(),
        &mut |services| checker.compare(services.iter().flat_map(|s| s.files(rendering)).collect()),
    );
    let errors: Vec<&Finding> = batch
        .all_findings()
        .filter(|f| f.severity == findings::Severity::Error)
        .collect();
    let mut human = batch::HumanDiagnostics::new(&batch);
    for f in &errors {
        eprintln!("{}", human.render(f));
    }
    let report = checker.finish();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (_, diff) in &report.changed {
        out.write_all(diff.as_bytes())?;
    }
    for path in &report.missing {
        writeln!(
            out,
            "missing: {} (convert would write it)",
            args.against.join(path).display()
        )?;
    }
    for path in &report.orphaned {
        writeln!(
            out,
            "orphaned: {} (no Service produces it)",
            args.against.join(path).display()
        )?;
    }
    for (_, why) in &report.not_files {
        writeln!(out, "not a file: {why}")?;
    }
    for path in &report.strays {
        writeln!(
            out,
            "stray: {} (a temporary file left by an interrupted run; the next convert -o there removes it)",
            path.display()
        )?;
    }
    let ok = report.in_sync() && errors.is_empty();
    let not_files = match report.not_files.len() {
        0 => String::new(),
        n => format!(", {n} not a file"),
    };
    eprintln!(
        "{}: {} changed, {} missing, {} orphaned{not_files}",
        if ok { "in sync" } else { "out of sync" },
        report.changed.len(),
        report.missing.len(),
        report.orphaned.len()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    use knative2nomad::deploy::jobspec::{HclFile, check_declared, needs_nomad};
    use knative2nomad::nomad::validate::{read_job_file, validate_file, validate_value};
    // The cluster, when one is given, and the runtime its client runs on.
    let nomad = match args.nomad.settings_if_given() {
        Some(settings) => Some((cluster_client(settings)?, tokio::runtime::Runtime::new()?)),
        None => None,
    };
    // With a cluster, HCL this tool did not write is read by the cluster's own parser, with the
    // input variables given (as `deploy` reads it).
    let values = knative2nomad::deploy::variables::Values::collect(&args.variables.variables())?;
    let for_nomad: Vec<HclFile> = match nomad {
        Some(_) => args
            .files
            .iter()
            .filter_map(|file| {
                let text = std::fs::read_to_string(file).ok()?;
                needs_nomad(file, &text).then(|| HclFile::new(file.clone(), text))
            })
            .collect(),
        None => Vec::new(),
    };
    if let Err(problems) = check_declared(&for_nomad.iter().collect::<Vec<_>>(), &values) {
        anyhow::bail!("{problems}");
    }
    let mut bad = 0;
    for file in &args.files {
        let Some((client, rt)) = &nomad else {
            bad += usize::from(!report_validation(file, validate_file(file)));
            continue;
        };
        let hcl = for_nomad.iter().find(|h| &h.path == file);
        let (mut problems, job) = match hcl {
            Some(hcl) => match rt.block_on(hcl.parse_with_nomad(client, &values)) {
                Ok(value) => (
                    validate_value(&value),
                    serde_json::from_value(value).map_err(|e| format!("wrong type: {e}")),
                ),
                Err(problem) => {
                    let prefix = format!("{}: ", file.display());
                    let problem = problem
                        .strip_prefix(&prefix)
                        .unwrap_or(&problem)
                        .to_string();
                    (vec![problem.clone()], Err(problem))
                }
            },
            None => (validate_file(file), read_job_file(file)),
        };
        match job {
            Ok(job) => match rt.block_on(client.validate(&job)) {
                Ok(answer) => {
                    let answer = answer.value;
                    for e in answer.validation_errors.unwrap_or_default() {
                        problems.push(format!("cluster: {e}"));
                    }
                    if !answer.warnings.trim().is_empty() {
                        eprintln!(
                            "{}: cluster warning: {}",
                            file.display(),
                            answer.warnings.trim()
                        );
                    }
                }
                Err(e) => problems.push(format!("cluster validation failed: {e}")),
            },
            Err(e) => problems.push(e),
        }
        bad += usize::from(!report_validation(file, problems));
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One file's verdict: `valid` on stdout, or its problems on stderr; true when it is valid.
fn report_validation(file: &std::path::Path, mut problems: Vec<String>) -> bool {
    if problems.is_empty() {
        println!("{}: valid", file.display());
        return true;
    }
    problems.dedup();
    for p in problems {
        eprintln!("{}: {p}", file.display());
    }
    false
}

fn platform(args: PlatformArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let format: OutputFormat = args.format.into();
    let platform = knative2nomad::platform::build(&settings, args.routes.as_deref(), format)?;
    let report = knative2nomad::platform::write(&platform, &args.output, args.force);
    let ok = print_write_report(&report, &args.output);
    let ns = &settings.namespace;
    eprintln!(
        "{} route(s) embedded in the traefik job; Sablier and Traefik serve Nomad namespace {ns}",
        platform.routes.len()
    );
    if args.routes.is_none() {
        eprintln!(
            "note: no --routes: Traefik starts without routes; give it the OUT/traefik directory convert -o wrote"
        );
    }
    let dir = args.output.display();
    eprintln!("next (docs/serverless.md):");
    for id in ["sablier", "traefik"] {
        eprintln!(
            "  nomad acl policy apply -namespace {ns} -job {id} k2n-{id} {dir}/{id}.policy.hcl"
        );
    }
    eprintln!(
        "  knative2nomad deploy {dir}/sablier.{ext} {dir}/traefik.{ext}",
        ext = format.extension()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn cluster_client(
    settings: knative2nomad::nomad::client::ConnectionSettings,
) -> anyhow::Result<knative2nomad::nomad::client::NomadClient> {
    let address = settings.address.clone();
    knative2nomad::nomad::client::NomadClient::new(settings)
        .map_err(|e| anyhow::anyhow!("cannot reach Nomad at {address}: {e}"))
}

/// A man page on stdout; an unknown subcommand is a usage error (2), like clap's own.
fn man(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    if let Err(e) = knative2nomad::cli::write_man_page(subcommand, &mut page) {
        eprintln!("error: {e:#}");
        return Ok(ExitCode::from(2));
    }
    std::io::stdout().write_all(&page)?;
    Ok(ExitCode::SUCCESS)
}

fn explain(code: &str) -> anyhow::Result<ExitCode> {
    match findings::lookup(code) {
        Some(info) => {
            print!("{}", findings::explain(info));
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("error: unknown finding code {code:?}; see docs/findings.md for the list");
            Ok(ExitCode::from(2))
        }
    }
}
