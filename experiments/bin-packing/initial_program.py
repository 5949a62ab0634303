"""Bin packing: put every item in a bin of the given capacity, using as few bins as possible."""
# EVOLVE-BLOCK-START


def pack(sizes, capacity, options):
    """Next fit: one open bin; an item that does not fit closes it and opens the next.

    sizes: list of int item sizes (each <= capacity); capacity: int; options: dict of the
    trial's parameters ("order": "given" or "decreasing"). Returns one bin index per item.
    """
    order = list(range(len(sizes)))
    if options.get("order") == "decreasing":
        order.sort(key=lambda i: -sizes[i])
    bins = [0] * len(sizes)
    current, load = 0, 0
    for i in order:
        if load + sizes[i] > capacity:
            current, load = current + 1, 0
        bins[i] = current
        load += sizes[i]
    return bins


# EVOLVE-BLOCK-END
