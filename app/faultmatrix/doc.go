// Package faultmatrix holds the fault-matrix suite of DESIGN.md §8 (its
// tests only): the real binary runs as two web processes and two worker
// processes against a private PostgreSQL cluster, fed 10,000 signed
// webhooks (30% of them duplicates, shuffled), while the suite SIGKILLs
// workers (some of them between a sink call and the recording of its
// outcome), stops and starts PostgreSQL, takes the sinks down and storms
// them with 429s. The witnesses are the ledger, compared with the serial
// truth (the distinct webhooks applied one by one by the loyalty engine in a
// separate database), and the Klaviyo and CleverTap fakes, which record what
// they received.
//
// Run it with
//
//	go run ./app/pglocal/withpg -- go test -count=1 -v ./app/faultmatrix/
//
// and a longer soak with FAULTS_SOAK=30m (rounds of the same matrix, each on
// a new shop, until the time is up). docs/reliability.md lists what each
// case proves and the figures of the last run.
package faultmatrix
