// Package procmem trims a process's resident memory before it loads a
// model, so that sov's peak memory stays close to llama.cpp's own tools.
package procmem
