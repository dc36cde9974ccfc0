package main

import (
	"iter"
	"runtime"
	"syscall"
)

// The coro mode keeps the goroutine relay's blocking code (a copy loop
// per direction) but runs it as coroutines (iter.Pull) driven by one
// epoll loop per P: a read or write that would block yields to the loop
// instead of parking in Go's netpoller, and the loop resumes it on the
// same thread when epoll reports the socket ready. It measures whether
// blocking-style session code can relay as cheaply as the epoll mode's
// hand-written state machine.

type waitFor struct {
	fd  int
	out bool // waiting to write, not to read
}

type coTask struct {
	next func() (waitFor, bool)
}

type coLoop struct {
	ep      int
	wake    int
	add     chan [2]int
	readers map[int]*coTask
	writers map[int]*coTask
}

func runCoro(listen, upstream string) {
	inboxes := make([]inbox, runtime.GOMAXPROCS(0))
	for i := range inboxes {
		in := newInbox()
		inboxes[i] = in
		l := &coLoop{ep: in.ep, wake: in.wake, add: in.add, readers: map[int]*coTask{}, writers: map[int]*coTask{}}
		go l.run()
	}
	acceptPairs(listen, upstream, inboxes)
}

// copyTask is the goroutine relay's copy loop, written as if blocking:
// each wait is a yield to the loop.
func copyTask(src, dst int, done func()) iter.Seq[waitFor] {
	return func(yield func(waitFor) bool) {
		defer done()
		buf := make([]byte, 16<<10)
		drained := false
		for {
			if drained {
				// A short read took all there was; with edge-triggered
				// epoll, anything that arrives later is a new edge, so
				// waiting first is safe and saves a read that would
				// only return EAGAIN.
				if !yield(waitFor{fd: src}) {
					return
				}
			}
			n, err := rawIO(syscall.SYS_READ, src, buf)
			drained = n > 0 && n < len(buf)
			if err == syscall.EAGAIN {
				if !yield(waitFor{fd: src}) {
					return
				}
				continue
			}
			if n <= 0 {
				return
			}
			for b := buf[:n]; len(b) > 0; {
				w, err := rawIO(syscall.SYS_WRITE, dst, b)
				if err == syscall.EAGAIN {
					// While this task waits to write, it is not
					// registered as src's reader: an edge on src in
					// that time is reported and dropped, so the next
					// read must not wait for one.
					drained = false
					if !yield(waitFor{fd: dst, out: true}) {
						return
					}
					continue
				}
				if err != nil {
					return
				}
				b = b[w:]
			}
		}
	}
}

func (l *coLoop) run() {
	eventLoop(l.ep, l.wake, l.adopt, func(ev syscall.EpollEvent) {
		fd := int(ev.Fd)
		if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR|syscall.EPOLLRDHUP) != 0 {
			if t := l.readers[fd]; t != nil {
				delete(l.readers, fd)
				l.resume(t)
			}
		}
		if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			if t := l.writers[fd]; t != nil {
				delete(l.writers, fd)
				l.resume(t)
			}
		}
	})
}

func (l *coLoop) resume(t *coTask) {
	w, ok := t.next()
	if !ok {
		return
	}
	if w.out {
		l.writers[w.fd] = t
	} else {
		l.readers[w.fd] = t
	}
}

func (l *coLoop) adopt() {
	for {
		select {
		case p := <-l.add:
			cfd, ufd := p[0], p[1]
			for _, fd := range p {
				ev := &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fd)}
				if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, ev); err != nil {
					panic(err)
				}
			}
			left := 2
			done := func() {
				if left--; left == 0 {
					syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, cfd, nil)
					syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, ufd, nil)
					delete(l.readers, cfd)
					delete(l.readers, ufd)
					delete(l.writers, cfd)
					delete(l.writers, ufd)
					syscall.Close(cfd)
					syscall.Close(ufd)
				} else {
					syscall.Shutdown(cfd, syscall.SHUT_RDWR)
					syscall.Shutdown(ufd, syscall.SHUT_RDWR)
				}
			}
			for _, dir := range [][2]int{{cfd, ufd}, {ufd, cfd}} {
				next, _ := iter.Pull(copyTask(dir[0], dir[1], done))
				l.resume(&coTask{next: next})
			}
		default:
			return
		}
	}
}
