"""The error raised for data that cannot be trained on."""


class DataError(ValueError):
    """Data that cannot be trained on: a missing file, an unknown array, mixed image sizes,
    files that are not images, NaN or infinite values, a non-numeric dtype, too few
    examples for a split. The message names the file and what would work.
    """
