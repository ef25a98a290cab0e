/* The signing thread; see sign_worker.h. Jobs go in through a queue under
 * a mutex and come back through another, and an eventfd wakes the loop
 * for them, so libevent itself is never touched from the worker. */
#include "daemon/sign_worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job_queue {
    struct sign_job *head, *tail;
};

struct sign_worker {
    struct signer *signer;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct job_queue to_sign, signed_jobs;
    int done_fd;
    struct event *done_event;
};

static void queue_push(struct job_queue *q, struct sign_job *job)
{
    job->next = NULL;
    if (q->tail != NULL)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static struct sign_job *queue_take_all(struct job_queue *q)
{
    struct sign_job *all = q->head;
    q->head = q->tail = NULL;
    return all;
}

static void sign_all(struct signer *signer, struct sign_job *job)
{
    lcb_error_clear(&job->err);
    for (size_t i = 0; i < job->n; i++)
        if (signer_sign(signer, job->txs[i]->hash, job->txs[i]->signature, &job->err) != 0)
            return;
}

static void *worker_main(void *arg)
{
    struct sign_worker *worker = arg;
    pthread_mutex_lock(&worker->lock);
    for (;;) {
        while (worker->to_sign.head == NULL && !worker->stopping)
            pthread_cond_wait(&worker->wake, &worker->lock);
        if (worker->stopping)
            break;
        struct sign_job *job = worker->to_sign.head;
        worker->to_sign.head = job->next;
        if (worker->to_sign.head == NULL)
            worker->to_sign.tail = NULL;
        pthread_mutex_unlock(&worker->lock);

        sign_all(worker->signer, job);

        pthread_mutex_lock(&worker->lock);
        queue_push(&worker->signed_jobs, job);
        uint64_t one = 1;
        /* Only a full counter (2^64 - 2 wake-ups unread) could refuse it. */
        while (write(worker->done_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&worker->lock);
    return NULL;
}

static void on_signed(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sign_worker *worker = arg;
    uint64_t count;
    while (read(fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&worker->lock);
    struct sign_job *job = queue_take_all(&worker->signed_jobs);
    pthread_mutex_unlock(&worker->lock);
    while (job != NULL) {
        struct sign_job *next = job->next;
        job->done(lcb_error_is_set(&job->err) ? &job->err : NULL, job->arg);
        job = next;
    }
}

struct sign_worker *sign_worker_new(struct event_base *base, struct signer *signer,
                                    struct lcb_error *err)
{
    struct sign_worker *worker = calloc(1, sizeof *worker);
    if (worker == NULL) {
        lcb_error_set(err, "internal_error", "out of memory");
        return NULL;
    }
    worker->signer = signer;
    worker->done_fd = -1;
    pthread_mutex_init(&worker->lock, NULL);
    pthread_cond_init(&worker->wake, NULL);
    worker->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (worker->done_fd < 0) {
        lcb_error_set(err, "internal_error", "cannot make the signing thread's eventfd");
        goto fail;
    }
    worker->done_event = event_new(base, worker->done_fd, EV_READ | EV_PERSIST, on_signed, worker);
    if (worker->done_event == NULL || event_add(worker->done_event, NULL) != 0) {
        lcb_error_set(err, "internal_error", "cannot watch the signing thread");
        goto fail;
    }
    /* Signals stay the loop's: the thread starts with all of them blocked. */
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    int started = pthread_create(&worker->thread, NULL, worker_main, worker);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (started != 0) {
        lcb_error_set(err, "internal_error", "cannot start the signing thread");
        goto fail;
    }
    worker->thread_started = true;
    return worker;
fail:
    sign_worker_free(worker);
    return NULL;
}

void sign_worker_free(struct sign_worker *worker)
{
    if (worker == NULL)
        return;
    if (worker->thread_started) {
        pthread_mutex_lock(&worker->lock);
        worker->stopping = true;
        pthread_cond_signal(&worker->wake);
        pthread_mutex_unlock(&worker->lock);
        pthread_join(worker->thread, NULL);
    }
    if (worker->done_event != NULL)
        event_free(worker->done_event);
    if (worker->done_fd >= 0)
        close(worker->done_fd);
    pthread_cond_destroy(&worker->wake);
    pthread_mutex_destroy(&worker->lock);
    free(worker);
}

void sign_worker_submit(struct sign_worker *worker, struct sign_job *job)
{
    pthread_mutex_lock(&worker->lock);
    queue_push(&worker->to_sign, job);
    pthread_cond_signal(&worker->wake);
    pthread_mutex_unlock(&worker->lock);
}
