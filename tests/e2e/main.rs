//! End-to-end tests against a real kube-apiserver, etcd and
//! kube-controller-manager (tests/testbed), real kubectl, and the operator
//! binary as a separate process.

mod support;

mod adoption;
mod arcgis;
mod bench_api_calls;
mod bench_clients;
mod bench_failover;
mod bench_promotion;
mod chaos;
mod check_cli;
mod claims;
mod cli;
mod crd;
mod demo;
mod diff_cli;
mod export_cli;
mod failover;
mod failover_safety;
mod fuzz_corpus;
mod git_auth;
mod health_check;
mod helm;
mod hooks;
mod hostile_sites;
mod hostile_sources;
mod joining;
mod leader;
mod lifecycle;
mod listing;
mod load_balancer;
mod monitoring;
mod node;
mod overlays;
mod parity;
mod preflight;
mod promote_cli;
mod promotion;
mod promotion_sync;
mod pygeoapi;
mod quiet;
mod secret_reads;
mod shards;
mod signed;
mod silence;
mod sites;
mod sources;
mod standby_first;
mod status_guard;
mod sync;
mod tenants;
mod traffic;
mod traffic_endpoint;
mod validation;
mod windows;
