package klaviyo

// Hooks for the external tests and benchmarks.
var (
	EncodeEvent  = encodeEvent
	EncodeBulk   = func(events []Event) ([]byte, error) { b, _, err := encodeBulk(events); return b, err }
	RetryAfterOf = retryAfter
)
