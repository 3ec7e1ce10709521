package clevertap

import "testing"

// FuzzParseUpload: whatever CleverTap answers with a 200, the parser
// either says the records' fate is unknown (an error) or accounts for them
// within bounds: every refused record points at a record that was sent (or
// says it cannot tell, -1), and never more refusals than records.
func FuzzParseUpload(f *testing.F) {
	f.Add([]byte(`{"status":"success","processed":2,"unprocessed":[]}`), 2)
	f.Add([]byte(`{"status":"partial","processed":1,"unprocessed":[{"status":"fail","code":509,"error":"Skipped record number : 2","record":{"identity":"b"}}]}`), 2)
	f.Add([]byte(`{"status":"fail","error":"Account Id not valid","code":401}`), 1)
	f.Add([]byte(`{"status":"partial","processed":0,"unprocessed":[{"code":"555","error":"Skipped record number : 99"}]}`), 3)
	f.Add([]byte(`<html>`), 1)
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		records := make([]Record, n)
		for i := range records {
			records[i] = Record{Type: TypeEvent, Identity: string(rune('a' + i%26)), EvtName: "e"}
		}
		res, err := parseUpload(raw, records)
		if err != nil {
			return
		}
		for _, u := range res.Unprocessed {
			if u.Index < -1 || u.Index >= n {
				t.Fatalf("refusal points at record %d of %d", u.Index, n)
			}
		}
	})
}
