//! The offline validator against Nomad's register-time rules (issue 16 items 6 and 7).
//!
//! `RULES` is the catalogue: for every struct the converter emits, the rules of its Go
//! `Validate` (hashicorp/nomad nomad/structs/structs.go, services.go, volumes.go, structs_ce.go;
//! the agent's command/agent/job_endpoint.go; nomad/job_endpoint_hooks.go), each either
//! implemented — then a change to a valid job that breaks it must be reported with Nomad's
//! message — or not, with the reason. `ACCEPTED` lists jobs Nomad accepts that our validator
//! once refused: each must stay valid, with the Go source that says so.

use knative2nomad::nomad::validate::validate_value;
use serde_json::{Value, json};

/// A job that exercises every emitted struct and passes every rule.
fn base_job() -> Value {
    json!({
        "ID": "web", "Name": "web", "Type": "service",
        "TaskGroups": [{
            "Name": "g", "Count": 1,
            "Networks": [{"DynamicPorts": [{"Label": "http", "To": 8080}]}],
            "Services": [{"Name": "web", "PortLabel": "http", "Provider": "nomad",
                "Checks": [{"Name": "ready", "Type": "http", "Path": "/ready",
                    "Interval": 1_000_000_000_i64, "Timeout": 1_000_000_000_i64}]}],
            "Volumes": {"data": {"Name": "data", "Type": "csi", "Source": "data",
                "AccessMode": "single-node-writer", "AttachmentMode": "file-system"}},
            "Scaling": {"Min": 1, "Max": 3},
            "Tasks": [{
                "Name": "t", "Driver": "docker", "Config": {"image": "x"},
                "Resources": {"CPU": 100, "MemoryMB": 128, "Devices": [{"Name": "nvidia/gpu"}]},
                "Templates": [{"DestPath": "local/a", "EmbeddedTmpl": "a"}],
                "VolumeMounts": [{"Volume": "data", "Destination": "/data"}]
            }]
        }]
    })
}

fn g(j: &mut Value) -> &mut Value {
    &mut j["TaskGroups"][0]
}
fn t(j: &mut Value) -> &mut Value {
    &mut j["TaskGroups"][0]["Tasks"][0]
}
fn s(j: &mut Value) -> &mut Value {
    &mut j["TaskGroups"][0]["Services"][0]
}
fn c(j: &mut Value) -> &mut Value {
    &mut j["TaskGroups"][0]["Services"][0]["Checks"][0]
}
fn consul(j: &mut Value) {
    s(j)["Provider"] = "consul".into();
}

/// One rule of Nomad's: its Go function, its message (or the start of it), and either a
/// change to [`base_job`] that breaks it, or why the validator does not check it.
struct Rule {
    go: &'static str,
    message: &'static str,
    check: Result<fn(&mut Value), &'static str>,
}

const fn yes(go: &'static str, message: &'static str, breaks: fn(&mut Value)) -> Rule {
    Rule {
        go,
        message,
        check: Ok(breaks),
    }
}

const fn no(go: &'static str, message: &'static str, reason: &'static str) -> Rule {
    Rule {
        go,
        message,
        check: Err(reason),
    }
}

const SEC: i64 = 1_000_000_000;

const RULES: &[Rule] = &[
    // ---- Job (structs.go Job.Validate; job_endpoint_hooks.go jobValidate; the HTTP agent)
    yes("Job.Validate", "Missing job ID", |j| j["ID"] = "".into()),
    yes("Job.Validate", "Job ID contains a space", |j| {
        j["ID"] = "a b".into()
    }),
    yes("Job.Validate", "Job ID contains a null character", |j| {
        j["ID"] = "a\0b".into()
    }),
    yes("Job.Validate", "Missing job name", |j| {
        j["Name"] = "".into()
    }),
    yes("Job.Validate", "Job Name contains a null character", |j| {
        j["Name"] = "a\0".into()
    }),
    yes("Job.Validate", "Missing job type", |j| {
        j["Type"] = "".into()
    }),
    yes("Job.Validate", "Invalid job type: \"cron\"", |j| {
        j["Type"] = "cron".into()
    }),
    yes(
        "Job.Validate",
        "Job datacenter must be non-empty string",
        |j| j["Datacenters"] = json!([""]),
    ),
    yes("Job.Validate", "Missing job task groups", |j| {
        j["TaskGroups"] = json!([])
    }),
    yes(
        "Job.Validate",
        "System jobs may not have an affinity block",
        |j| {
            j["Type"] = "system".into();
            j["Affinities"] = json!([{"LTarget": "${node.class}", "RTarget": "a", "Operand": "="}]);
        },
    ),
    yes(
        "Job.Validate",
        "System jobs may not have a spread block",
        |j| {
            j["Type"] = "system".into();
            j["Spreads"] = json!([{"Attribute": "${node.datacenter}"}]);
        },
    ),
    yes(
        "Job.Validate",
        "Periodic can only be used with \"batch\" or \"sysbatch\" scheduler",
        |j| j["Periodic"] = json!({"Spec": "@daily"}),
    ),
    yes(
        "Job.Validate",
        "Parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler",
        |j| j["ParameterizedJob"] = json!({}),
    ),
    yes("Job.Validate", "Job task group 1 missing name", |j| {
        g(j)["Name"] = "".into()
    }),
    yes(
        "Job.Validate",
        "Job task group 2 redefines 'g' from group 1",
        |j| {
            let copy = g(j).clone();
            j["TaskGroups"].as_array_mut().unwrap().push(copy);
        },
    ),
    yes(
        "Job.Validate",
        "ShutdownDelay must be a positive value",
        |j| g(j)["ShutdownDelay"] = (-SEC).into(),
    ),
    yes(
        "Job.Validate",
        "Job task group g has count 2. Count cannot exceed 1 with system scheduler",
        |j| {
            j["Type"] = "system".into();
            g(j)["Count"] = 2.into();
        },
    ),
    yes(
        "jobValidate.Validate (job_endpoint_hooks.go)",
        "job priority must be between [1, 100]",
        |j| j["Priority"] = 101.into(),
    ),
    yes(
        "jobUpdate (command/agent/job_endpoint.go)",
        "Task groups with job type system do not support scaling blocks",
        |j| j["Type"] = "system".into(),
    ),
    no(
        "Job.Validate",
        "Missing job region",
        "api Job.Canonicalize sets \"global\" when unset; an explicit \"\" is the multiregion case, which we do not emit",
    ),
    no(
        "Job.Validate",
        "Job must be in a namespace",
        "unreachable: api Job.Canonicalize sets \"default\"",
    ),
    no(
        "Job.Validate",
        "UI description must be under 1000 characters",
        "the converter writes no ui block",
    ),
    no(
        "Job.Validate (structs_ce.go)",
        "Multiregion jobs are unlicensed.",
        "the converter writes no multiregion block",
    ),
    no(
        "jobValidate.Validate",
        "job can't be submitted with a payload, only dispatched",
        "the converter writes no payload",
    ),
    no(
        "jobValidate.validateVaultIdentity",
        "Task %s has a Vault block with an empty list of policies",
        "the converter writes no vault block",
    ),
    no(
        "Constraint/Affinity/Spread.Validate",
        "Constraint %d validation failed: ...",
        "the converter writes none; operands are not checked",
    ),
    // ---- TaskGroup (TaskGroup.Validate, validateNetworks, validateServices, validateScalingPolicy)
    yes(
        "TaskGroup.Validate",
        "Task group count can't be negative",
        |j| {
            g(j)["Count"] = (-1).into();
            g(j)["Scaling"]["Min"] = 0.into();
        },
    ),
    yes("TaskGroup.Validate", "Missing tasks for task group", |j| {
        g(j)["Tasks"] = json!([])
    }),
    yes(
        "EphemeralDisk.Validate",
        "minimum DiskMB value is 10; got 5",
        |j| g(j)["EphemeralDisk"] = json!({"SizeMB": 5}),
    ),
    yes(
        "TaskGroup.Validate",
        "System jobs should not have a reschedule policy",
        |j| {
            j["Type"] = "system".into();
            g(j)["ReschedulePolicy"] = json!({"Attempts": 1});
        },
    ),
    yes(
        "TaskGroup.Validate",
        "Job type \"batch\" does not allow update block",
        |j| {
            j["Type"] = "batch".into();
            g(j)["Update"] = json!({"MaxParallel": 2});
        },
    ),
    yes(
        "TaskGroup.Validate",
        "Job type \"batch\" does not allow migrate block",
        |j| {
            j["Type"] = "batch".into();
            g(j)["Migrate"] = json!({"MaxParallel": 2});
        },
    ),
    yes("TaskGroup.Validate", "Task 1 missing name", |j| {
        t(j)["Name"] = "".into()
    }),
    yes(
        "TaskGroup.Validate",
        "Task 2 redefines 't' from task 1",
        |j| {
            let copy = t(j).clone();
            g(j)["Tasks"].as_array_mut().unwrap().push(copy);
        },
    ),
    yes(
        "TaskGroup.Validate",
        "Only one task may be marked as leader",
        |j| {
            t(j)["Leader"] = true.into();
            let mut copy = t(j).clone();
            copy["Name"] = "u".into();
            g(j)["Tasks"].as_array_mut().unwrap().push(copy);
        },
    ),
    yes(
        "TaskGroup.validateNetworks",
        "Port label http already in use",
        |j| {
            g(j)["Networks"][0]["DynamicPorts"] = json!([{"Label": "http"}, {"Label": "http"}]);
        },
    ),
    yes(
        "TaskGroup.validateNetworks",
        "Port http (70000) cannot be greater than 65535",
        |j| {
            g(j)["Networks"][0]["DynamicPorts"][0]["Value"] = 70000.into();
        },
    ),
    yes(
        "TaskGroup.validateNetworks",
        "Port \"http\" cannot be mapped to negative value -2",
        |j| {
            g(j)["Networks"][0]["DynamicPorts"][0]["To"] = (-2).into();
        },
    ),
    yes(
        "TaskGroup.validateNetworks",
        "Port \"http\" cannot be mapped to a port (70000) greater than 65535",
        |j| {
            g(j)["Networks"][0]["DynamicPorts"][0]["To"] = 70000.into();
        },
    ),
    no(
        "TaskGroup.validateNetworks",
        "Static port %d already reserved by %s",
        "the converter writes dynamic ports only",
    ),
    no(
        "TaskGroup.validateNetworks",
        "Hostname is not a valid DNS name / collision may not be ignored",
        "the converter sets neither hostname nor ignore_collision",
    ),
    yes(
        "TaskGroup.validateServices",
        "Multiple service providers used: task group services must use the same provider",
        |j| {
            let mut other = s(j).clone();
            other["Name"] = "other".into();
            other["Provider"] = "consul".into();
            g(j)["Services"].as_array_mut().unwrap().push(other);
        },
    ),
    yes(
        "TaskGroup.validateServices",
        "Services are not unique: group->web:http",
        |j| {
            let copy = s(j).clone();
            g(j)["Services"].as_array_mut().unwrap().push(copy);
        },
    ),
    yes(
        "TaskGroup.validateServices",
        "service \"web\" cannot use address_mode=\"driver\"",
        |j| s(j)["AddressMode"] = "driver".into(),
    ),
    yes(
        "TaskGroup.validateServices",
        "Check ready invalid: refers to non-existent task nope",
        |j| c(j)["TaskName"] = "nope".into(),
    ),
    yes(
        "validateScriptChecksInGroupServices",
        "must specify task parameter",
        |j| {
            consul(j);
            c(j)["Type"] = "script".into();
            c(j)["Command"] = "/bin/true".into();
        },
    ),
    yes(
        "ScalingPolicy.Validate",
        "Scaling policy invalid: maximum count must be specified and non-negative",
        |j| {
            g(j)["Scaling"].as_object_mut().unwrap().remove("Max");
        },
    ),
    yes(
        "ScalingPolicy.Validate",
        "Scaling policy invalid: maximum count must not be less than minimum count",
        |j| {
            g(j)["Scaling"] = json!({"Min": 3, "Max": 2});
            g(j)["Count"] = 2.into();
        },
    ),
    yes(
        "ScalingPolicy.Validate",
        "Scaling policy invalid: minimum count must be specified and non-negative",
        |j| g(j)["Scaling"]["Min"] = (-1).into(),
    ),
    yes(
        "ScalingPolicy.validateType (structs_ce.go)",
        "Scaling policy invalid: scaling policy type \"vertical_cpu\" is not valid",
        |j| g(j)["Scaling"]["Type"] = "vertical_cpu".into(),
    ),
    yes(
        "TaskGroup.validateScalingPolicy",
        "Scaling policy invalid: task group count must not be greater than maximum count in scaling policy",
        |j| g(j)["Count"] = 4.into(),
    ),
    yes(
        "TaskGroup.validateScalingPolicy",
        "Scaling policy invalid: task group count must not be less than minimum count in scaling policy",
        |j| g(j)["Scaling"]["Min"] = 2.into(),
    ),
    no(
        "RestartPolicy/ReschedulePolicy/MigrateStrategy.Validate",
        "Unsupported restart mode / Delay cannot be less than 5s / ...",
        "the converter writes none of them and Nomad's defaults pass",
    ),
    no(
        "TaskGroup.Warnings, memoryOversubscriptionValidate",
        "Update max parallel count is greater than task group count ...",
        "warnings, never a refusal",
    ),
    // ---- UpdateStrategy.Validate, on the canonical group update (the default for service jobs)
    yes(
        "UpdateStrategy.Validate",
        "Invalid health check given: \"ping\"",
        |j| g(j)["Update"] = json!({"HealthCheck": "ping"}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Max parallel can not be less than zero: -1 < 0",
        |j| g(j)["Update"] = json!({"MaxParallel": -1}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Canary count can not be less than zero: -1 < 0",
        |j| g(j)["Update"] = json!({"Canary": -1}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Auto Promote requires a Canary count greater than zero",
        |j| g(j)["Update"] = json!({"AutoPromote": true}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Minimum healthy time may not be less than zero: -1s",
        |j| g(j)["Update"] = json!({"MinHealthyTime": -SEC}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Healthy deadline must be greater than zero: 0s",
        |j| g(j)["Update"] = json!({"HealthyDeadline": 0, "MinHealthyTime": -SEC}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Progress deadline must be zero or greater: -1s",
        |j| g(j)["Update"] = json!({"ProgressDeadline": -SEC}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Minimum healthy time must be less than healthy deadline: 5m0s > 5m0s",
        |j| g(j)["Update"] = json!({"MinHealthyTime": 300 * SEC}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Healthy deadline must be less than progress deadline: 10m0s > 10m0s",
        |j| g(j)["Update"] = json!({"HealthyDeadline": 600 * SEC}),
    ),
    yes(
        "UpdateStrategy.Validate",
        "Stagger must be greater than zero: 0s",
        |j| j["Update"] = json!({"Stagger": 0}),
    ),
    // ---- Task (Task.Validate)
    yes("Task.Validate", "Missing task name", |j| {
        t(j)["Name"] = "".into()
    }),
    yes("Task.Validate", "Task name cannot include slashes", |j| {
        t(j)["Name"] = "a/b".into()
    }),
    yes(
        "Task.Validate",
        "Task name cannot include null characters",
        |j| t(j)["Name"] = "a\0".into(),
    ),
    yes("Task.Validate", "Missing task driver", |j| {
        t(j)["Driver"] = "".into()
    }),
    yes(
        "Task.Validate",
        "KillTimeout must be a positive value",
        |j| t(j)["KillTimeout"] = (-SEC).into(),
    ),
    yes(
        "Task.Validate",
        "KillTimout (11m0s) longer than the group's ProgressDeadline (10m0s)",
        |j| t(j)["KillTimeout"] = (660 * SEC).into(),
    ),
    yes(
        "Task.Validate",
        "ShutdownDelay must be a positive value",
        |j| t(j)["ShutdownDelay"] = (-SEC).into(),
    ),
    yes(
        "TaskLifecycleConfig.Validate",
        "Lifecycle validation failed: invalid hook: during",
        |j| t(j)["Lifecycle"] = json!({"Hook": "during"}),
    ),
    no(
        "TaskLifecycleConfig.Validate",
        "no lifecycle hook provided",
        "unreachable: api Task.Canonicalize drops a lifecycle without a hook",
    ),
    yes(
        "Task.Validate",
        "Volume Mount (0) references undefined volume nope",
        |j| t(j)["VolumeMounts"][0]["Volume"] = "nope".into(),
    ),
    yes(
        "Task.Validate",
        "Volume Mount (0) references an empty volume",
        |j| t(j)["VolumeMounts"][0]["Volume"] = "".into(),
    ),
    yes(
        "ApiTgToStructsTG (command/agent/job_endpoint.go)",
        "Volume Mount (0) references undefined volume data",
        |j| g(j)["Volumes"]["data"]["Type"] = "nfs".into(),
    ),
    no(
        "VolumeMount.Validate",
        "Volume Mount (%d) is invalid: ...",
        "propagation mode and SELinux label rules were not in the source we could read",
    ),
    no(
        "Task.Validate",
        "Constraint %d has disallowed Operand at task level: %s",
        "the converter writes no task constraints",
    ),
    no(
        "Artifact/Vault/DispatchPayload/CSIPluginConfig/Identity/Action Validate",
        "Artifact %d validation failed: ...",
        "the converter writes none of them",
    ),
    // ---- Resources (Resources.Validate, MeetsMinResources, RequestedDevice.Validate), LogConfig
    yes(
        "Resources.MeetsMinResources",
        "minimum CPU value is 1; got 0",
        |j| t(j)["Resources"]["CPU"] = 0.into(),
    ),
    yes(
        "Resources.MeetsMinResources",
        "minimum MemoryMB value is 10; got 4",
        |j| t(j)["Resources"]["MemoryMB"] = 4.into(),
    ),
    yes(
        "Resources.Validate",
        "Task can only ask for 'cpu' or 'cores' resource, not both.",
        |j| t(j)["Resources"]["Cores"] = 2.into(),
    ),
    yes(
        "Resources.Validate",
        "Task can't ask for disk resources",
        |j| t(j)["Resources"]["DiskMB"] = 10.into(),
    ),
    yes(
        "Resources.Validate",
        "MemoryMaxMB value (64) should be larger than MemoryMB value (128)",
        |j| t(j)["Resources"]["MemoryMaxMB"] = 64.into(),
    ),
    yes(
        "Resources.Validate",
        "SecretsMB value (256) cannot be larger than MemoryMB value (128)",
        |j| t(j)["Resources"]["SecretsMB"] = 256.into(),
    ),
    yes(
        "Resources.Validate",
        "SecretsMB value (-1) cannot be negative",
        |j| t(j)["Resources"]["SecretsMB"] = (-1).into(),
    ),
    yes(
        "RequestedDevice.Validate",
        "device 0 failed validation: device name must be given as one of the following",
        |j| t(j)["Resources"]["Devices"][0]["Name"] = "a/b/c/d".into(),
    ),
    no(
        "Resources.Validate",
        "numa device %q not requested as task resource",
        "the converter writes no numa block",
    ),
    yes(
        "LogConfig.Validate",
        "minimum number of files is 1; got 0",
        |j| t(j)["LogConfig"] = json!({"MaxFiles": 0}),
    ),
    yes(
        "LogConfig.Validate",
        "minimum file size is 1MB; got 0",
        |j| t(j)["LogConfig"] = json!({"MaxFileSizeMB": 0}),
    ),
    yes(
        "Task.Validate",
        "log storage (100 MB) must be less than requested disk capacity (100 MB)",
        |j| g(j)["EphemeralDisk"] = json!({"SizeMB": 100}),
    ),
    // ---- Template (Template.Validate, ChangeScript.Validate, WaitConfig.Validate)
    yes(
        "Template.Validate",
        "Template 1 validation failed: Must specify a source path or have an embedded template",
        |j| t(j)["Templates"][0]["EmbeddedTmpl"] = "".into(),
    ),
    yes(
        "Template.Validate",
        "Template 1 validation failed: Must specify a destination for the template",
        |j| t(j)["Templates"][0]["DestPath"] = "".into(),
    ),
    yes(
        "Template.Validate (escapingfs.PathEscapesAllocViaRelative)",
        "Template 1 validation failed: destination escapes allocation directory",
        |j| t(j)["Templates"][0]["DestPath"] = "../../etc/x".into(),
    ),
    yes(
        "Template.Validate",
        "Must specify signal value when change mode is signal",
        |j| t(j)["Templates"][0] = json!({"DestPath": "a", "EmbeddedTmpl": "a", "ChangeMode": "signal", "ChangeSignal": ""}),
    ),
    yes(
        "Template.Validate",
        "cannot use signals with env var templates",
        |j| {
            t(j)["Templates"][0] = json!({"DestPath": "a", "EmbeddedTmpl": "a", "ChangeMode": "signal", "Envvars": true})
        },
    ),
    yes(
        "Template.Validate",
        "must specify change script configuration value when change mode is script",
        |j| t(j)["Templates"][0]["ChangeMode"] = "script".into(),
    ),
    yes(
        "ChangeScript.Validate",
        "must specify script path value when change mode is script",
        |j| {
            t(j)["Templates"][0]["ChangeMode"] = "script".into();
            t(j)["Templates"][0]["ChangeScript"] = json!({"Args": ["x"]});
        },
    ),
    yes(
        "Template.Validate",
        "Invalid change mode. Must be one of the following: noop, signal, script, restart",
        |j| t(j)["Templates"][0]["ChangeMode"] = "reload".into(),
    ),
    yes(
        "Template.Validate",
        "Must specify positive splay value",
        |j| t(j)["Templates"][0]["Splay"] = (-SEC).into(),
    ),
    yes(
        "Template.Validate",
        "Failed to parse \"0999\" as octal: strconv.ParseUint: parsing \"0999\": invalid syntax",
        |j| t(j)["Templates"][0]["Perms"] = "0999".into(),
    ),
    yes(
        "WaitConfig.Validate",
        "wait min 10s is greater than max 5s",
        |j| t(j)["Templates"][0]["Wait"] = json!({"Min": 10 * SEC, "Max": 5 * SEC}),
    ),
    yes(
        "Task.Validate",
        "Template 2 has same destination as 1",
        |j| {
            let copy = t(j)["Templates"][0].clone();
            t(j)["Templates"].as_array_mut().unwrap().push(copy);
        },
    ),
    // ---- Service (services.go Service.Validate, Task validateServices)
    yes(
        "Service.ValidateName",
        "Service name must be valid per RFC 1123",
        |j| s(j)["Name"] = "web_1".into(),
    ),
    yes(
        "Service.Validate",
        "Service address_mode must be \"auto\", \"host\", or \"driver\"; not \"alloc\"",
        |j| s(j)["AddressMode"] = "alloc".into(),
    ),
    yes(
        "Service.Validate",
        "Service address_mode must be \"auto\" if address is set",
        |j| {
            s(j)["Address"] = "10.0.0.1".into();
            s(j)["AddressMode"] = "host".into();
        },
    ),
    yes(
        "Service.Validate",
        "Service on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; not \"never\"",
        |j| s(j)["OnUpdate"] = "never".into(),
    ),
    yes(
        "Service.Validate",
        "Service provider must be \"consul\", or \"nomad\"; not \"dns\"",
        |j| s(j)["Provider"] = "dns".into(),
    ),
    yes(
        "Service.validateNomadService",
        "Service with provider nomad cannot include Connect blocks",
        |j| s(j)["Connect"] = json!({"Native": true}),
    ),
    no(
        "Service.validateConsulService",
        "Check %s invalid: tcp checks are not valid for Connect enabled services",
        "the converter writes no Connect block",
    ),
    yes(
        "Task.validateServices",
        "service \"api\" is duplicate",
        |j| {
            t(j)["Services"] =
                json!([{"Name": "api", "Provider": "nomad"}, {"Name": "api", "Provider": "nomad"}])
        },
    ),
    yes("Task.validateServices", "check \"c\" is duplicate", |j| {
        let check = json!({"Name": "c", "Type": "tcp", "Interval": SEC, "Timeout": SEC});
        t(j)["Services"] = json!([{"Name": "api", "Provider": "nomad", "PortLabel": "http", "Checks": [check.clone(), check]}]);
    }),
    yes(
        "Task.validateServices",
        "port label \"admin\" referenced by services [api] does not exist",
        |j| t(j)["Services"] = json!([{"Name": "api", "Provider": "nomad", "PortLabel": "admin"}]),
    ),
    // ---- ServiceCheck (validateCheckPort, validateCommon, validateNomad, validateConsul)
    yes(
        "ServiceCheck.validateCheckPort",
        "check requires a port but neither check nor service \"web\" have a port",
        |j| s(j)["PortLabel"] = "".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "invalid check type (\"grpc\"), must be one of tcp, http",
        |j| c(j)["Type"] = "grpc".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "invalid check type (\"ping\"), must be one of grpc, tcp, http, script",
        |j| {
            consul(j);
            c(j)["Type"] = "ping".into();
        },
    ),
    yes(
        "ServiceCheck.validateCommon",
        "http type must have http path",
        |j| c(j)["Path"] = "".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "http type must have valid http path",
        |j| c(j)["Path"] = "/a%zz".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "http type must have relative http path",
        |j| c(j)["Path"] = "http://x/ready".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "script type must have a valid script path",
        |j| {
            consul(j);
            c(j)["Type"] = "script".into();
            c(j)["TaskName"] = "t".into();
        },
    ),
    yes(
        "ServiceCheck.validateCommon",
        "missing required value interval. Interval cannot be less than 1s",
        |j| c(j)["Interval"] = 0.into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "interval (500ms) cannot be lower than 1s",
        |j| c(j)["Interval"] = (SEC / 2).into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "missing required value timeout. Timeout cannot be less than 1s",
        |j| c(j)["Timeout"] = 0.into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "timeout (500ms) is lower than required minimum timeout 1s",
        |j| c(j)["Timeout"] = (SEC / 2).into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "invalid initial check state (ok)",
        |j| c(j)["InitialStatus"] = "ok".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "invalid address_mode \"auto\" - auto only valid for services",
        |j| c(j)["AddressMode"] = "auto".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "invalid address_mode \"nat\"",
        |j| c(j)["AddressMode"] = "nat".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; got \"never\"",
        |j| c(j)["OnUpdate"] = "never".into(),
    ),
    yes(
        "ServiceCheck.validateCommon",
        "on_update value \"ignore\" is not compatible with check_restart",
        |j| {
            c(j)["OnUpdate"] = "ignore".into();
            c(j)["CheckRestart"] = json!({"Limit": 3});
        },
    ),
    yes(
        "ServiceCheck.validateCommon",
        "on_update value \"ignore_warnings\" not supported with check_restart ignore_warnings value \"false\"",
        |j| {
            consul(j);
            c(j)["OnUpdate"] = "ignore_warnings".into();
            c(j)["CheckRestart"] = json!({"Limit": 3});
        },
    ),
    yes(
        "CheckRestart.Validate",
        "limit must be greater than or equal to 0 but found -1",
        |j| c(j)["CheckRestart"] = json!({"Limit": -1}),
    ),
    yes(
        "CheckRestart.Validate",
        "grace period must be greater than or equal to 0 but found -1",
        |j| c(j)["CheckRestart"] = json!({"Grace": -1}),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "expose may only be set for Consul service checks",
        |j| c(j)["Expose"] = true.into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "on_update may only be set to ignore_warnings for Consul service checks",
        |j| {
            c(j)["OnUpdate"] = "ignore_warnings".into();
        },
    ),
    yes(
        "ServiceCheck.validateNomad",
        "ignore_warnings on check_restart only supported for Consul service checks",
        |j| c(j)["CheckRestart"] = json!({"IgnoreWarnings": true}),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "address_mode = driver may only be set for Consul service checks",
        |j| c(j)["AddressMode"] = "driver".into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "success_before_passing may only be set for Consul service checks",
        |j| c(j)["SuccessBeforePassing"] = 2.into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "failures_before_critical may only be set for Consul service checks",
        |j| c(j)["FailuresBeforeCritical"] = 2.into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "failures_before_warning may only be set for Consul service checks",
        |j| c(j)["FailuresBeforeWarning"] = 2.into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "tls_server_name may only be set for Consul service checks",
        |j| c(j)["TLSServerName"] = "x".into(),
    ),
    yes(
        "ServiceCheck.validateNomad",
        "tls_skip_verify may only be set for Consul service checks",
        |j| {
            c(j)["Protocol"] = "https".into();
            c(j)["TLSSkipVerify"] = true.into();
        },
    ),
    no(
        "ServiceCheck.validateNomad",
        "method type %q not supported in Nomad http check",
        "the methods Nomad's own checks accept were not in the source we read; the converter writes no method",
    ),
    yes(
        "ServiceCheck.validateConsul",
        "success_before_passing not supported for check of type \"script\"",
        |j| {
            consul(j);
            c(j)["Type"] = "script".into();
            c(j)["Command"] = "/bin/true".into();
            c(j)["TaskName"] = "t".into();
            c(j)["SuccessBeforePassing"] = 2.into();
        },
    ),
    yes(
        "ServiceCheck.validateConsul",
        "expose may only be set on HTTP or gRPC checks",
        |j| {
            consul(j);
            c(j)["Type"] = "tcp".into();
            c(j)["Expose"] = true.into();
        },
    ),
    yes(
        "ServiceCheck.validateConsul",
        "notes must not be longer than 255 characters",
        |j| {
            consul(j);
            c(j)["Notes"] = "n".repeat(256).into();
        },
    ),
    // ---- VolumeRequest (volumes.go VolumeRequest.Validate(jobType, count, canaries))
    yes(
        "VolumeRequest.Validate",
        "Task group volume validation for data failed: volume has an empty source",
        |j| g(j)["Volumes"]["data"]["Source"] = "".into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "volume cannot be per_alloc for system or sysbatch jobs",
        |j| {
            j["Type"] = "sysbatch".into();
            g(j).as_object_mut().unwrap().remove("Scaling");
            g(j)["Volumes"]["data"]["PerAlloc"] = true.into();
        },
    ),
    yes(
        "VolumeRequest.Validate",
        "volume cannot be per_alloc when canaries are in use",
        |j| {
            g(j)["Volumes"]["data"]["PerAlloc"] = true.into();
            g(j)["Update"] = json!({"Canary": 1});
        },
    ),
    yes(
        "VolumeRequest.Validate",
        "CSI volumes must have an attachment mode",
        |j| g(j)["Volumes"]["data"]["AttachmentMode"] = "".into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "block devices cannot have mount options",
        |j| {
            g(j)["Volumes"]["data"]["AttachmentMode"] = "block-device".into();
            g(j)["Volumes"]["data"]["MountOptions"] = json!({"FSType": "ext4"});
        },
    ),
    yes(
        "VolumeRequest.Validate",
        "CSI volumes must have an access mode",
        |j| g(j)["Volumes"]["data"]["AccessMode"] = "".into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "single-node-reader-only volumes must be read-only",
        |j| g(j)["Volumes"]["data"]["AccessMode"] = "single-node-reader-only".into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "volume with single-node-reader-only access mode allows only one reader",
        |j| {
            g(j)["Volumes"]["data"]["AccessMode"] = "single-node-reader-only".into();
            g(j)["Volumes"]["data"]["ReadOnly"] = true.into();
            g(j)["Count"] = 2.into();
        },
    ),
    yes(
        "VolumeRequest.Validate",
        "volume with single-node-writer access mode allows only one reader or writer",
        |j| g(j)["Count"] = 2.into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "multi-node-reader-only volumes must be read-only",
        |j| g(j)["Volumes"]["data"]["AccessMode"] = "multi-node-reader-only".into(),
    ),
    yes(
        "VolumeRequest.Validate",
        "volume with multi-node-single-writer access mode allows only one writer",
        |j| {
            g(j)["Volumes"]["data"]["AccessMode"] = "multi-node-single-writer".into();
            g(j)["Count"] = 2.into();
        },
    ),
    no(
        "VolumeRequest.Validate",
        "host volumes cannot have an access mode / attachment mode / mount options",
        "Nomad 1.10's dynamic host volumes changed these rules; the version we read predates them, and the converter writes CSI volumes only",
    ),
];

#[test]
fn the_base_job_is_valid() {
    let problems = validate_value(&base_job());
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn every_implemented_rule_refuses_what_breaks_it() {
    let mut missing = Vec::new();
    for rule in RULES {
        let Ok(breaks) = rule.check else { continue };
        let mut job = base_job();
        breaks(&mut job);
        let problems = validate_value(&job);
        if !problems.iter().any(|p| p.contains(rule.message)) {
            missing.push(format!(
                "{} \"{}\": got {problems:?}",
                rule.go, rule.message
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    let implemented = RULES.iter().filter(|r| r.check.is_ok()).count();
    let left_out = RULES.len() - implemented;
    println!("Nomad rules: {implemented} implemented, {left_out} not (with reasons)");
    for rule in RULES {
        if let Err(reason) = rule.check {
            assert!(!reason.is_empty());
            println!(
                "  not implemented: {} \"{}\": {reason}",
                rule.go, rule.message
            );
        }
    }
}

/// Jobs Nomad accepts that our validator refused before it canonicalized as Nomad does; each
/// with what says Nomad accepts it.
/// A change to [`base_job`].
type Change = fn(&mut Value);

const ACCEPTED: &[(&str, &str, Change)] = &[
    (
        "no count, scaling min 2: count is 2",
        "api TaskGroup.Canonicalize",
        |j| {
            g(j).as_object_mut().unwrap().remove("Count");
            g(j)["Scaling"]["Min"] = 2.into();
            g(j)["Volumes"]["data"]["AccessMode"] = "multi-node-multi-writer".into();
        },
    ),
    (
        "null lists and maps, as nomad job run -output writes them",
        "Go encoding/json: null is nil",
        |j| {
            j["Constraints"] = Value::Null;
            g(j)["Affinities"] = Value::Null;
            t(j)["Env"] = Value::Null;
            t(j)["Artifacts"] = Value::Null;
        },
    ),
    (
        "check PortLabel \"\" and TaskName \"\"",
        "api ServiceCheck: plain strings, \"\" is unset",
        |j| {
            c(j)["PortLabel"] = "".into();
            c(j)["TaskName"] = "".into();
        },
    ),
    (
        "a group whose only task is a prestart task",
        "TaskGroup.Validate has no main-task rule",
        |j| {
            t(j)["Lifecycle"] = json!({"Hook": "prestart"});
        },
    ),
    (
        "a group service port label not in the network",
        "TaskGroup.validateServices checks labels of task services only",
        |j| {
            s(j)["PortLabel"] = "metrics".into();
        },
    ),
    (
        "two group-service checks with one name",
        "TaskGroup.validateServices: duplicate checks are a task-service rule",
        |j| {
            let copy = c(j).clone();
            s(j)["Checks"].as_array_mut().unwrap().push(copy);
        },
    ),
    (
        "a task named alloc",
        "Task.Validate refuses only slashes and null characters",
        |j| {
            t(j)["Name"] = "alloc".into();
        },
    ),
    (
        "a template writing into the shared alloc dir",
        "escapingfs.PathEscapesAllocViaRelative",
        |j| {
            t(j)["Templates"][0]["DestPath"] = "../alloc/data/x".into();
        },
    ),
    (
        "change_mode signal without a signal",
        "api Template.Canonicalize sets SIGHUP",
        |j| {
            t(j)["Templates"][0]["ChangeMode"] = "signal".into();
        },
    ),
    (
        "lifecycle with an empty hook",
        "api Task.Canonicalize drops it (TaskLifecycle.Empty)",
        |j| {
            t(j)["Lifecycle"] = json!({"Hook": ""});
        },
    ),
    (
        "a service without a name",
        "api Service.Canonicalize names it <job>-<group>",
        |j| {
            s(j).as_object_mut().unwrap().remove("Name");
        },
    ),
    (
        "an http check path without a leading slash",
        "ServiceCheck.validateCommon refuses only a path with a scheme",
        |j| {
            c(j)["Path"] = "ready".into();
        },
    ),
    (
        "priority 0",
        "job_endpoint_hooks.go jobCanonicalizer sets the server default",
        |j| {
            j["Priority"] = 0.into();
        },
    ),
    (
        "an upper-case check type",
        "ServiceCheck type is lower-cased before validation",
        |j| {
            c(j)["Type"] = "HTTP".into();
        },
    ),
    (
        "a negative static port and a negative task disk",
        "validateNetworks checks > 65535 only; Resources.Validate DiskMB > 0 only",
        |j| {
            g(j)["Networks"][0]["ReservedPorts"] = json!([{"Label": "s", "Value": -1}]);
            t(j)["Resources"]["DiskMB"] = (-1).into();
        },
    ),
    (
        "cpu 0 with cores",
        "Resources.Validate refuses only both > 0; MeetsMinResources exempts cores",
        |j| {
            t(j)["Resources"]["CPU"] = 0.into();
            t(j)["Resources"]["Cores"] = 2.into();
        },
    ),
    (
        "a batch job whose kill_timeout exceeds 10 minutes",
        "Task.Validate applies the ProgressDeadline rule to service jobs",
        |j| {
            j["Type"] = "batch".into();
            t(j)["KillTimeout"] = (900 * SEC).into();
        },
    ),
    (
        "a service job with a long kill_timeout and a longer progress deadline",
        "the group update is the job's merged with the group's",
        |j| {
            j["Update"] = json!({"ProgressDeadline": 1800 * SEC});
            t(j)["KillTimeout"] = (900 * SEC).into();
        },
    ),
];

#[test]
fn jobs_nomad_accepts_stay_valid() {
    let mut refused = Vec::new();
    for (what, source, change) in ACCEPTED {
        let mut job = base_job();
        change(&mut job);
        let problems = validate_value(&job);
        if !problems.is_empty() {
            refused.push(format!("{what} ({source}): {problems:?}"));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}
