package ops

// EnvVar documents one environment variable that a service's
// ConfigFromEnv reads: its name, its default as the README gives it
// (empty when it has none), and what it sets. Each service lists its own
// in a variable Env, which a test checks against the README.
type EnvVar struct {
	Name    string
	Default string
	Doc     string
}
