/* Gives a Cython cdef class the am_send slot (PEP 590-era "send" protocol,
 * CPython >= 3.10) so that `await obj` can finish with a value without
 * raising StopIteration: Cython's def methods add a traceback frame to
 * every exception they raise, which made a StopIteration per message cost
 * more than the coroutine object it replaced.  `step(self, &done)` returns
 * a new reference: the awaitable's result when *done is 1, a value to
 * yield to the Task (a future) when it is 0; NULL on error.
 *
 * Python 3.9 has no am_send slot: there ws_install_am_send() does nothing and
 * `await` goes through the type's send()/__next__, which finish with
 * StopIteration (correct, only slower per message). */
#include <Python.h>

typedef PyObject* (*ws_step_fn)(PyObject* self, int* done);

#if PY_VERSION_HEX >= 0x030A0000

static ws_step_fn ws_am_send_step = NULL;

static PySendResult ws_am_send(PyObject* self, PyObject* arg, PyObject** presult) {
    int done = 0;
    PyObject* r;
    (void)arg;
    r = ws_am_send_step(self, &done);
    *presult = r;
    if (r == NULL)
        return PYGEN_ERROR;
    return done ? PYGEN_RETURN : PYGEN_NEXT;
}

static int ws_install_am_send(PyObject* type, ws_step_fn step) {
    PyTypeObject* t = (PyTypeObject*)type;
    if (t->tp_as_async == NULL) {
        PyErr_SetString(PyExc_TypeError, "type has no async slots");
        return -1;
    }
    ws_am_send_step = step;
    t->tp_as_async->am_send = ws_am_send;
    PyType_Modified(t);
    return 0;
}

#else  /* Python < 3.10: no am_send slot */

static int ws_install_am_send(PyObject* type, ws_step_fn step) {
    (void)type;
    (void)step;
    return 0;
}

#endif
