package main

import "github.com/natter/natter/kit/ops"

// Env lists the environment variables natter reads itself; it also reads
// those of gateway, presence and history (their Env), except the ones of
// a service alone: NATTER_HTTP_ADDR and NATTER_PPROF are the gateway's,
// and presence's and history's NATS_URL, presence's Redis variables
// (REDIS_URL, NATTER_REDIS_*), NATTER_JETSTREAM_REPLICAS and HTTP address
// mean nothing in one process, whose presence keeps its store in memory
// (one embedded NATS server holds one copy).
var Env = []ops.EnvVar{
	{Name: "NATTER_DATA_DIR", Default: defaultDataDir, Doc: "the folder of JetStream's files (`-data`)"},
}

const defaultDataDir = "data"

// config is natter's own configuration, beside the services'.
type config struct {
	DataDir string // JetStream's files are under DataDir/nats; defaultDataDir
}

func (c config) withDefaults() config {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	return c
}

// configFromEnv reads the variables of Env.
func configFromEnv() (config, error) {
	r := ops.NewEnvReader(Env)
	c := config{DataDir: r.String("NATTER_DATA_DIR")}
	return c.withDefaults(), r.Err()
}
