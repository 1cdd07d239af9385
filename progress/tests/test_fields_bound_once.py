"""The hot input serializers bind their fields once per class (progress.api.serializers
FieldsBoundOnce): no state leaks from one request's validation into the next."""

import pytest

from progress.api.serializers import ProgressLookupSerializer, ProgressUpdateSerializer


def test_the_fields_are_built_once_per_class():
    first = ProgressUpdateSerializer(data={}).fields
    second = ProgressUpdateSerializer(data={}).fields
    assert first is second
    assert ProgressLookupSerializer(data={}).fields is not first


def test_one_request_errors_do_not_leak_into_the_next():
    bad = ProgressUpdateSerializer(data={"sessionToken": "x", "timeSpent": -1})
    assert not bad.is_valid()
    assert set(bad.errors) == {"sessionToken", "timeSpent"}

    good = ProgressUpdateSerializer(
        data={"sessionToken": "abcdefgh1234", "stepNumber": 2, "timeSpent": 5}
    )
    assert good.is_valid(), good.errors
    assert good.validated_data["timeSpent"] == 5
    assert good.validated_data["sessionToken"] == "abcdefgh1234"

    again = ProgressUpdateSerializer(data={"sessionToken": "abcdefgh1234", "stepNumber": 99})
    assert not again.is_valid()
    assert list(again.errors) == ["stepNumber"]


@pytest.mark.parametrize("kwargs", [{"partial": True}, {"context": {"request": None}}])
def test_partial_and_context_are_refused(kwargs):
    with pytest.raises(TypeError, match="neither partial nor context"):
        ProgressLookupSerializer(data={}, **kwargs)
