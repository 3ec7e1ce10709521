package clevertap

// Hooks for the external tests and benchmarks: the fake always names the
// skipped record and echoes records as objects, so the other answer shapes
// of sinks.md §2.5 are exercised through ParseUpload.
var (
	EncodeUpload = encodeUpload
	ParseUpload  = parseUpload
)
