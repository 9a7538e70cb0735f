//! End-to-end tests against a real kube-apiserver, etcd and
//! kube-controller-manager (tests/testbed), real kubectl, and the operator
//! binary as a separate process.

mod support;

mod cli;
mod crd;
mod leader;
mod lifecycle;
mod sites;
mod sync;
mod traffic;
mod validation;
