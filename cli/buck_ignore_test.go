package cli

import (
	"strings"
	"testing"
)

func TestBuckIgnore(t *testing.T) {
	type check struct {
		path    string
		dir     bool
		ignored bool
	}
	tests := []struct {
		name     string
		patterns string
		checks   []check
	}{
		{"name at any depth", "*.log\n", []check{
			{"a.log", false, true}, {"x/y/b.log", false, true}, {"a.logs", false, false}, {"log", false, false},
		}},
		{"comments and blanks", "# *.txt\n\n   \n", []check{{"a.txt", false, false}, {"# *.txt", false, false}}},
		{"escaped hash and bang", "\\#notes\n\\!bang\n", []check{{"#notes", false, true}, {"!bang", false, true}, {"bang", false, false}}},
		{"negation, last rule wins", "*.log\n!keep.log\n", []check{
			{"a.log", false, true}, {"keep.log", false, false}, {"sub/keep.log", false, false},
		}},
		{"re-ignore after negation", "*.log\n!keep.log\nsub/keep.log\n", []check{
			{"keep.log", false, false}, {"sub/keep.log", false, true},
		}},
		{"dir only", "build/\n", []check{
			{"build", true, true}, {"build", false, false}, {"src/build", true, true},
		}},
		{"anchored at the top", "/todo.txt\n", []check{{"todo.txt", false, true}, {"docs/todo.txt", false, false}}},
		{"middle slash anchors", "docs/*.md\n", []check{
			{"docs/a.md", false, true}, {"x/docs/a.md", false, false}, {"docs/sub/a.md", false, false},
		}},
		{"leading double star", "**/cache\n", []check{
			{"cache", true, true}, {"a/cache", false, true}, {"a/b/cache", true, true}, {"a/cachex", true, false},
		}},
		{"trailing double star", "logs/**\n", []check{
			{"logs/a", false, true}, {"logs/a/b", false, true}, {"logs", true, false}, {"x/logs/a", false, false},
		}},
		{"middle double star", "a/**/b\n", []check{
			{"a/b", false, true}, {"a/x/b", false, true}, {"a/x/y/b", false, true}, {"a/xb", false, false},
		}},
		{"question mark and class", "file?.[ch]\n[!a]x\n", []check{
			{"file1.c", false, true}, {"file1.h", false, true}, {"file12.c", false, false}, {"file1.o", false, false},
			{"bx", false, true}, {"ax", false, false},
		}},
		{"star stays in one name", "a*z\n", []check{{"abcz", false, true}, {"ab/cz", false, false}}},
		{"trailing spaces trimmed", "tmp   \n", []check{{"tmp", false, true}}},
		{"regexp metacharacters are literal", "a+b(1).txt\n", []check{{"a+b(1).txt", false, true}, {"aab1.txt", false, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ig, err := parseIgnore(strings.NewReader(tt.patterns))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.checks {
				if got := ig.ignored(c.path, c.dir); got != c.ignored {
					t.Errorf("ignored(%q, dir=%v) = %v, want %v", c.path, c.dir, got, c.ignored)
				}
			}
		})
	}
}

func TestBuckIgnoreBadPattern(t *testing.T) {
	_, err := parseIgnore(strings.NewReader("ok\n[z-a]\n"))
	if err == nil || !strings.Contains(err.Error(), ".buckignore line 2: \"[z-a]\" is not a valid pattern") {
		t.Fatalf("parseIgnore of a bad class: %v", err)
	}
}
