"""Factories for students and workshop sessions."""

import secrets

import factory

from workshop.models import Student, WorkshopSession


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student
        django_get_or_create = ("student_email",)

    student_email = factory.Sequence(lambda n: f"student{n}@example.com")
    student_name = factory.Faker("name")
    github_username = factory.Sequence(lambda n: f"octo{n}")


class WorkshopSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkshopSession

    session_token = factory.LazyFunction(lambda: f"ws_{secrets.token_urlsafe(16)}")
    student = factory.SubFactory(StudentFactory)
