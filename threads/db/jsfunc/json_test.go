package jsfunc

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// jsonCorpus is JSON, valid and not, on which decodeJSON must agree with
// goja's JSON.parse.
var jsonCorpus = []string{
	`{}`, `[]`, `0`, `-0`, `1`, `-1`, `1.5`, `-1.5e-7`, `1E+2`, `0.1`, `1e400`, `-1e400`, `1e-400`,
	`9007199254740991`, `9007199254740992`, `9007199254740993`, `-9007199254740992`,
	`123456789012345678901234567890`, `true`, `false`, `null`, `""`, `"a"`,
	`"\u00e9\u2028\ud83d\ude00"`, `"\"\\\/\b\f\n\r\t"`, `"\u0000"`, `"é😀"`, `"\ud800"`, `"\udc00x"`,
	` { "a" : [ 1 , { "b" : null } ] } `, "\t[\r\n1\n]\n",
	`{"__proto__":{"owner":"x"},"a":1}`, `{"a":1,"a":2,"b":3}`, `{"b":1,"a":2,"1":3,"0":4}`,
	`[[[[[[[[[[1]]]]]]]]]]`, `{"a":{"b":{"c":{"d":[true,false,null]}}}}`,
	// Not JSON.
	``, ` `, `{`, `}`, `[1,]`, `[,1]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`,
	`0x10`, `Infinity`, `NaN`, `tru`, `nul`, `"\x"`, "\"a\nb\"", `"abc`, `"\`, `[1] 2`, `[1]]`, `{"a":1}}`, `undefined`,
}

func TestDecodeJSONAgreesWithJSONParse(t *testing.T) {
	for _, text := range jsonCorpus {
		checkDecodeJSON(t, text)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, text := range jsonCorpus {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if nestsDeeper(text, 100) {
			return
		}
		checkDecodeJSON(t, text)
	})
}

// checkDecodeJSON decodes text with decodeJSON and with JSON.parse and
// compares: both fail, or both give values with the same JSON, sign of
// zero and prototypes.
func checkDecodeJSON(t *testing.T, text string) {
	t.Helper()
	vm := goja.New()
	mine, err := decodeJSON(vm, []byte(text))
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	theirs, perr := parse(goja.Undefined(), vm.ToValue(text))
	if perr != nil && strings.Contains(perr.Error(), "cannot unmarshal number") && err == nil {
		// goja refuses numbers out of float64's range; ECMAScript (and
		// decodeJSON) make them ±Infinity.
		return
	}
	if (err == nil) != (perr == nil) {
		t.Fatalf("%q: decodeJSON error %v, JSON.parse error %v", text, err, perr)
	}
	if err != nil {
		return
	}
	same, err := vm.RunString(`(function (a, b) {
		function walk(a, b) {
			if (typeof a !== typeof b) return false;
			if (a === null || typeof a !== "object") return Object.is(a, b);
			if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
			var ka = Object.getOwnPropertyNames(a), kb = Object.getOwnPropertyNames(b);
			if (ka.join("\u0000") !== kb.join("\u0000")) return false;
			for (var i = 0; i < ka.length; i++) {
				if (!walk(a[ka[i]], b[kb[i]])) return false;
			}
			return true;
		}
		return walk(a, b);
	})`)
	if err != nil {
		t.Fatal(err)
	}
	cmp, _ := goja.AssertFunction(same)
	res, err := cmp(goja.Undefined(), mine, theirs)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ToBoolean() {
		t.Fatalf("%q: decodeJSON gives %v, JSON.parse gives %v", text, mine, theirs)
	}
}

func TestDecodeJSONDepth(t *testing.T) {
	vm := goja.New()
	if _, err := decodeJSON(vm, []byte(strings.Repeat("[", MaxJSONDepth)+strings.Repeat("]", MaxJSONDepth))); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := decodeJSON(vm, []byte(strings.Repeat(`{"a":`, MaxJSONDepth+1)))
	if _, deep := err.(errTooDeep); !deep {
		t.Fatalf("past the limit: %v", err)
	}
}
