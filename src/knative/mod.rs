//! knative
