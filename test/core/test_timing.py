"""The one timing helper: warm-up, interleaving and GPU sync are what the benchmarks rely on."""
from elf_ros.core.timing import call_times, median_ms


def test_calls_are_interleaved_after_warm_up_and_synced_after_each():
    events = []
    fns = [lambda: events.append('a'), lambda: events.append('b')]
    times = call_times(fns, repeats=3, warmup=2, sync=lambda: events.append('sync'))
    # Warm-up: two rounds of a, b, one sync; then each timed call is followed by a sync.
    assert events == ['a', 'b'] * 2 + ['sync'] + ['a', 'sync', 'b', 'sync'] * 3
    assert [len(t) for t in times] == [3, 3]
    assert all(t >= 0 for row in times for t in row)


def test_median_is_taken_per_function_in_milliseconds():
    calls = {'n': 0}

    def counted():
        calls['n'] += 1

    (ms,) = median_ms([counted], repeats=5, warmup=1)
    assert calls['n'] == 6 and 0 <= ms < 1e3
