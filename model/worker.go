package model

import (
	"fmt"
	"runtime"
)

// worker runs an Engine's llama.cpp compute calls on one locked OS thread.
// llama.cpp's OpenMP thread team belongs to the thread that starts a parallel
// region; a goroutine hopping between OS threads would start a new team of
// spinning workers on each one, and on a two-core machine those idle spinners
// take a third of the throughput.
type worker struct {
	jobs chan func()
	done chan struct{}
}

func newWorker() *worker {
	w := &worker{jobs: make(chan func()), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *worker) loop() {
	// Never unlocked: the thread ends with the goroutine.
	runtime.LockOSThread()
	defer close(w.done)
	for f := range w.jobs {
		f()
	}
}

// do runs f on the worker thread and waits for it; a panic in f is re-raised
// in the caller's goroutine.
func (w *worker) do(f func()) {
	var perr any
	ch := make(chan struct{})
	w.jobs <- func() {
		defer close(ch)
		defer func() { perr = recover() }()
		f()
	}
	<-ch
	if perr != nil {
		panic(fmt.Sprintf("model worker: %v", perr))
	}
}

func (w *worker) stop() {
	close(w.jobs)
	<-w.done
}
