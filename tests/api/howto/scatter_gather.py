import typing as t
from ferroflow import load_profile, namespace, task, dynamic
load_profile()


@task
def square(x: int) -> int:
    """Square an integer."""
    return x * x


@task
def generate_numbers(
    n: int,
) -> t.Annotated[dict[str, int], namespace(data=dynamic(int))]:
    """Generate a dictionary of numbers from 1 to n."""
    return {'data': {f'number_{i + 1}': i + 1 for i in range(n)}}


@task.graph
def ParallelSquare(
    data: t.Annotated[dict[str, int], dynamic(int)],
) -> t.Annotated[dict, namespace(squares=dynamic(int))]:
    """Applies the square task to each number in the input data in parallel."""
    squares = {}
    for key, value in data.items():
        squares[key] = square(x=value).result
    return {'squares': squares}


data = {f'number_{i}': i for i in range(1, 5)}
wg = ParallelSquare.build(data)
wg.run()
print('\nResults:')
for i, result_node in enumerate(wg.outputs.squares):
    original_value = list(data.values())[i]
    print(f'{original_value}² = {result_node.value}')


wg


wg.generate_provenance_graph()


@task
def gather_and_sum(data: t.Annotated[dict, dynamic(int)]) -> int:
    """Sums the values of a dictionary of integers."""
    return sum(data.values())


@task.graph
def ScatterGatherSquare(n: int) -> int:
    """A full scatter-gather workflow to generate numbers, square them in parallel, and sum the results."""
    # Generate inputs
    data = generate_numbers(n=n).data
    # Scatter phase
    squares = ParallelSquare(data=data).squares
    # Gather phase
    return gather_and_sum(data=squares).result
wg = ScatterGatherSquare.build(4)
wg.run()
print('\nAggregated Result:', wg.outputs.result.value)
assert wg.outputs.result.value == 30
