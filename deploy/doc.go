// Package deploy holds no code: it is the home of rond's packaging and
// monitoring files, and its tests check them.
//
//   - docker/Dockerfile: a FROM-scratch image around static rond and ronctl
//     binaries built on the host (scripts/cluster.sh image), so building it
//     pulls nothing from a registry.
//   - compose/docker-compose.yml: a 3-node cluster (make cluster-up,
//     make cluster-down, make cluster-test).
//   - prometheus/: a scrape config for that cluster, alert rules for the
//     SLOs of ARCHITECTURE section 8, and promtool unit tests of those rules.
//
// The tests (deploy_test.go) run promtool check config, check rules and
// test rules on prometheus/; check that every metric an alert reads is one
// rond declares; check that every ARCHITECTURE section 8 metric that applies to
// rond is declared with the documented kind and label; and scrape a live
// rond's /metrics through promtool check metrics. Without promtool (Debian
// package prometheus; .ci/run installs it) the promtool parts skip and say
// so.
//
// Rejected alternatives: a multi-stage Dockerfile (needs a golang base
// image from a registry, which this project's CI cannot reach); node keys
// derived from a fixed seed or committed to the repository (anyone could
// impersonate a demo node; keys are generated per cluster at cluster-up
// and only their ids, from `ronctl key id`, go into the compose
// environment); parsing alert expressions with the Prometheus parser
// (a new dependency; a name scan suffices to catch a misspelt metric).
package deploy
