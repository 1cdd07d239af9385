"""Factories for step progress rows."""

import factory

from progress.models import StepProgress
from workshop.steps import step_title
from workshop.tests.factories import WorkshopSessionFactory


class StepProgressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StepProgress

    session = factory.SubFactory(WorkshopSessionFactory)
    # Keeps the row's owner consistent with its session's.
    student = factory.SelfAttribute("session.student")
    step_number = 1
    step_name = factory.LazyAttribute(lambda o: step_title(o.step_number))
    attempts = 1
