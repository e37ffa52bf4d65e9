package query

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchQuery is the second JS client query of TestParseJSClient: two ands,
// an or with two more, an index, seek, limit and skip.
const benchQuery = `{"ands":[{"fieldPath":"meta.rating","operation":2,"value":{"float":3.5}},{"fieldPath":"banned","operation":0,"value":{"bool":false}}],"ors":[{"ands":[{"fieldPath":"author","operation":3,"value":{"string":"M"}},{"fieldPath":"meta.reads","operation":5,"value":{"float":100}}],"ors":[]}],"index":"meta.rating","seek":"01abc","limit":10,"skip":2}`

func benchDoc(i int) map[string]any {
	var m map[string]any
	s := fmt.Sprintf(`{"_id":"id%06d","title":"Title %d","author":"Author %d","banned":%v,"meta":{"rating":%g,"reads":%d}}`,
		i, i, i%50, i%7 == 0, float64(i%50)/10, i%300)
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func BenchmarkParse(b *testing.B) {
	data := []byte(benchQuery)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	q, err := Parse([]byte(benchQuery))
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]map[string]any, 1024)
	for i := range docs {
		docs[i] = benchDoc(i)
	}
	i := 0
	for b.Loop() {
		q.Match(docs[i%len(docs)])
		i++
	}
}

// BenchmarkApply: filter, sort by a nested field and take a page of 10,000
// documents.
func BenchmarkApply(b *testing.B) {
	q, err := Parse([]byte(`{"ands":[{"fieldPath":"banned","operation":0,"value":{"bool":false}}],"sort":{"fieldPath":"meta.rating","desc":true},"skip":100,"limit":50}`))
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]Doc, 10000)
	for i := range docs {
		v := benchDoc(i)
		docs[i] = Doc{ID: v["_id"].(string), Value: v}
	}
	for b.Loop() {
		if got := q.Apply(docs); len(got) != 50 {
			b.Fatalf("got %d results", len(got))
		}
	}
}

func BenchmarkEncodeKey(b *testing.B) {
	v := StringValue("a moderately long string value\x00with a NUL")
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendKey(buf[:0], v)
	}
}
